"""The `meetbook` command (CONTRACT §4)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.config import Settings, SettingsError, load_settings, new_secret_key
from meetbook.errors import ApiError

# Exit statuses (CONTRACT §4), the same for every command.
EXIT_OK = 0
EXIT_FAILED = 1  # the database could not be reached or another failure
EXIT_USAGE = 2  # bad input: a missing or malformed option, a refused value
EXIT_NOT_FOUND = 3  # the user, team or token named does not exist
EXIT_CONFLICT = 4  # refused as things are: the email is taken, a team's last admin, ...
EXIT_FOR_ERROR = {400: EXIT_USAGE, 404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}
EXIT_CODES_HELP = """exit status:
  0  success (output: JSON on stdout; lists as one JSON object a line)
  1  failure (e.g. the database cannot be reached)
  2  bad input (a one-line error on stderr)
  3  not found: the user, team or token named does not exist
  4  conflict: e.g. the email is taken, or a team would lose its last admin"""


class CliError(Exception):
    """Bad input or a failed command: printed as one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 < value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive whole number")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port")
    return value


def _require_free_port(command: str, host: str, port: int) -> None:
    """Fail before doing anything (migrations, demo tokens) when the port is taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            reason = "is already in use (is meetbook already running?)"
        else:
            reason = f"cannot be listened on: {error.strerror or error}"
        raise CliError(f"meetbook {command}: {host}:{port} {reason}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="meetbook",
        description="Meeting requests for teams.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the API, the web page and the worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8000)
    serve.add_argument("--workers", type=_positive_int, default=1, help="API processes")
    serve.add_argument("--no-worker", action="store_true", help="do not deliver notifications")
    serve.add_argument("--demo", action="store_true", help="create demo users, team and tokens")

    worker = commands.add_parser("worker", help="run a standalone notification worker")
    worker.add_argument("--concurrency", type=_positive_int, default=4)
    worker.add_argument(
        "--metrics-port", type=_port, help="serve this worker's /metrics on 127.0.0.1:PORT"
    )

    commands.add_parser("secret", help="print a new random MEETBOOK_SECRET_KEY (needs no settings)")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", help="apply migrations")

    users = commands.add_parser("users", help="accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    create_user = users_commands.add_parser("create", help='create an account; prints {"id": ...}')
    create_user.add_argument("--name", required=True, help="the person's name")
    create_user.add_argument("--email", required=True, help="their email address (unique)")
    create_user.add_argument(
        "--timezone", help="an IANA zone such as Europe/Paris (default: none, times in UTC)"
    )
    create_user.add_argument(
        "--password",
        help="their password (at least 10 characters, not easily guessed); without it they "
        "cannot sign in until one is set (users set-password, or a reset link)",
    )
    create_user.add_argument(
        "--admin", action="store_true", help="make them an instance admin (may create teams)"
    )
    users_commands.add_parser("list", help="every account, one JSON object a line")
    set_password = users_commands.add_parser(
        "set-password", help="set a password, read from stdin or asked for at a terminal"
    )
    set_password.add_argument("--user", type=_positive_int, required=True, help="the user's id")
    deactivate = users_commands.add_parser(
        "deactivate",
        help="stop an account: no sign-in, every token revoked, removed from its teams, its "
        "pending and future confirmed meetings cancelled (with notifications)",
    )
    deactivate.add_argument("--user", type=_positive_int, required=True, help="the user's id")

    teams = commands.add_parser("teams", help="teams")
    teams_commands = teams.add_subparsers(dest="teams_command", required=True, parser_class=_Parser)
    create_team = teams_commands.add_parser("create", help='create a team; prints {"id": ...}')
    create_team.add_argument("--name", required=True, help="the team's name")
    add_member = teams_commands.add_parser(
        "add-member", help="add a user to a team (or change their role)"
    )
    add_member.add_argument("--team", type=_positive_int, required=True, help="the team's id")
    add_member.add_argument("--user", type=_positive_int, required=True, help="the user's id")
    add_member.add_argument(
        "--role", choices=("member", "admin"), default="member", help="default: member"
    )
    teams_commands.add_parser("list", help="every team, one JSON object a line")
    members = teams_commands.add_parser("members", help="a team's members, one JSON object a line")
    members.add_argument("--team", type=_positive_int, required=True, help="the team's id")
    remove_member = teams_commands.add_parser(
        "remove-member",
        help="remove a member; their pending and future confirmed meetings in the team are "
        "cancelled (with notifications); a team keeps at least one admin",
    )
    remove_member.add_argument("--team", type=_positive_int, required=True, help="the team's id")
    remove_member.add_argument("--user", type=_positive_int, required=True, help="the user's id")

    tokens = commands.add_parser("tokens", help="API tokens")
    tokens_commands = tokens.add_subparsers(
        dest="tokens_command", required=True, parser_class=_Parser
    )
    create_token = tokens_commands.add_parser(
        "create", help='issue an API token; prints {"token": ...} (shown only this once)'
    )
    create_token.add_argument("--user", type=_positive_int, required=True, help="the user's id")
    create_token.add_argument("--name", default="CLI token", help="a label (default: CLI token)")
    list_tokens = tokens_commands.add_parser(
        "list", help="a user's working API tokens and web sessions, one JSON object a line"
    )
    list_tokens.add_argument("--user", type=_positive_int, required=True, help="the user's id")
    revoke = tokens_commands.add_parser("revoke", help="revoke an API token or web session")
    revoke.add_argument("--id", type=_positive_int, required=True, help="the token's id")
    return parser


async def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    from meetbook.db import create_engine, create_sessionmaker, settle

    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            return await work(session)
    finally:
        await settle(sessionmaker)  # the workers' NOTIFY, if the work wrote notifications
        await engine.dispose()


def _read_password() -> str:
    """The new password for set-password: asked twice at a terminal, else stdin's first line."""
    if sys.stdin.isatty():
        first = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != first:
            raise CliError("meetbook users set-password: the two passwords differ")
        return first
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise CliError("meetbook users set-password: no password on stdin")
    return line


def _run_db_command(settings: Settings, args: argparse.Namespace) -> Any:
    from meetbook.accounts.commands import run
    from meetbook.migrate import upgrade

    password = None
    if args.command == "users" and args.users_command == "set-password":
        password = _read_password()
    upgrade(settings.database_url)

    async def work(session: AsyncSession) -> Any:
        return await run(session, args, password)

    return asyncio.run(_in_transaction(settings, work))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "secret":
            # Before the settings: it is what an operator runs before any exist.
            print(new_secret_key())
            return 0
        settings = load_settings()
        settings.resolved_secret_key()
        if args.command == "serve":
            from meetbook.server import serve

            _require_free_port("serve", args.host, args.port)
            serve(
                settings,
                host=args.host,
                port=args.port,
                workers=args.workers,
                run_worker=not args.no_worker,
                demo=args.demo,
            )
            return 0
        if args.command == "worker":
            from meetbook.server import run_worker

            if args.metrics_port is not None:
                _require_free_port("worker", "127.0.0.1", args.metrics_port)
            run_worker(settings, concurrency=args.concurrency, metrics_port=args.metrics_port)
            return 0
        if args.command == "db":
            from meetbook.migrate import upgrade

            upgrade(settings.database_url)
            print(json.dumps({"status": "upgraded"}))
            return 0
        output = _run_db_command(settings, args)
        for item in output if isinstance(output, list) else [output]:
            print(json.dumps(item))
        return EXIT_OK
    except (CliError, SettingsError) as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    except ApiError as error:
        print(f"meetbook: {error.message}", file=sys.stderr)
        return EXIT_FOR_ERROR.get(error.status, EXIT_FAILED)
    except (SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        print(f"meetbook: database error: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os._exit(main())
