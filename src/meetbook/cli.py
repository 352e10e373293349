"""The `meetbook` command (CONTRACT §4)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.config import Settings, SettingsError, load_settings
from meetbook.errors import ApiError


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
    parser = _Parser(prog="meetbook", description="Meeting requests for teams.")
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

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    db_commands.add_parser("upgrade", help="apply migrations")

    users = commands.add_parser("users", help="accounts")
    users_commands = users.add_subparsers(dest="users_command", required=True, parser_class=_Parser)
    create_user = users_commands.add_parser("create")
    create_user.add_argument("--name", required=True)
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--timezone")
    create_user.add_argument("--password")

    teams = commands.add_parser("teams", help="teams")
    teams_commands = teams.add_subparsers(dest="teams_command", required=True, parser_class=_Parser)
    create_team = teams_commands.add_parser("create")
    create_team.add_argument("--name", required=True)
    add_member = teams_commands.add_parser("add-member")
    add_member.add_argument("--team", type=_positive_int, required=True)
    add_member.add_argument("--user", type=_positive_int, required=True)
    add_member.add_argument("--role", choices=("member", "admin"), default="member")

    tokens = commands.add_parser("tokens", help="API tokens")
    tokens_commands = tokens.add_subparsers(
        dest="tokens_command", required=True, parser_class=_Parser
    )
    create_token = tokens_commands.add_parser("create")
    create_token.add_argument("--user", type=_positive_int, required=True)
    create_token.add_argument("--name", default="CLI token")
    return parser


async def _in_transaction(
    settings: Settings, work: Callable[[AsyncSession], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    from meetbook.db import create_engine, create_sessionmaker, settle

    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            return await work(session)
    finally:
        await settle(sessionmaker)  # the workers' NOTIFY, if the work wrote notifications
        await engine.dispose()


def _run_db_command(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from meetbook.accounts import service as accounts
    from meetbook.auth.tokens import issue_token
    from meetbook.meetings.timeparse import is_valid_zone
    from meetbook.migrate import upgrade
    from meetbook.models import User
    from meetbook.text import MAX_TOKEN_NAME_LENGTH, clean_line

    upgrade(settings.database_url)

    async def work(session: AsyncSession) -> dict[str, Any]:
        if args.command == "users":
            if args.timezone is not None and not is_valid_zone(args.timezone):
                raise CliError(f"--timezone: {args.timezone!r} is not an IANA timezone name")
            user = await accounts.create_user(
                session,
                name=args.name,
                email=args.email,
                timezone=args.timezone,
                password=args.password,
            )
            return {"id": user.id}
        if args.command == "teams" and args.teams_command == "create":
            return {"id": (await accounts.create_team(session, args.name)).id}
        if args.command == "teams":
            await accounts.add_member(session, args.team, args.user, args.role)
            return {"team_id": args.team, "user_id": args.user, "role": args.role}
        if await session.get(User, args.user) is None:
            raise CliError(f"--user: user {args.user} does not exist")
        name = clean_line(args.name, "--name", MAX_TOKEN_NAME_LENGTH, required=False)
        token, row = await issue_token(session, args.user, name or "CLI token")
        return {"token": token, "id": row.id}

    return asyncio.run(_in_transaction(settings, work))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
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
        print(json.dumps(_run_db_command(settings, args)))
        return 0
    except (CliError, SettingsError) as error:
        print(str(error), file=sys.stderr)
        return 2
    except ApiError as error:
        print(f"meetbook: {error.message}", file=sys.stderr)
        return 1
    except (SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0][:200]
        print(f"meetbook: database error: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os._exit(main())
