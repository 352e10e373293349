"""Real processes and peers for the reliability tests and `bench/soak.py`.

`meetbook serve` / `meetbook worker` as child processes on a free loopback port, an
aiosmtpd sink that counts deliveries by Message-ID (and can refuse or hang), a
throwaway PostgreSQL cluster that can be stopped or frozen, RSS sampling from /proc.
Nothing here needs pytest, so the bench can use it too. Everything listens on
127.0.0.1 only, and every wait is bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import Executable, text

from meetbook.accounts import service as accounts
from meetbook.auth.tokens import issue_token
from meetbook.config import Settings
from meetbook.db import create_engine, create_sessionmaker
from tests.conftest import Person, clean_environment

SECRET_KEY = "reliability-secret-key-" + "x" * 40
BASE_URL = "http://meetbook.test"
# render_email: Message-ID is <notification-{id}.meeting-{meeting id}@{booking}.{domain}>.
MESSAGE_ID = re.compile(r"<notification-(\d+)\.meeting-(\d+)@[^>]+>")


def notification_and_meeting(message_id: str) -> tuple[int, int]:
    """The (notification id, meeting id) a Message-ID names; AssertionError if none."""
    found = MESSAGE_ID.fullmatch(message_id)
    assert found, f"unexpected Message-ID {message_id!r}"
    return int(found.group(1)), int(found.group(2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def meetbook_command(*args: str) -> list[str]:
    """The installed `meetbook` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("meetbook")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "meetbook.cli", *args]


def meetbook_env(database_url: str, **settings: object) -> dict[str, str]:
    """The environment of a meetbook process: nothing MEETBOOK_* leaks in from ours."""
    env = clean_environment()
    env.update(
        MEETBOOK_DATABASE_URL=database_url,
        MEETBOOK_SECRET_KEY=SECRET_KEY,
        MEETBOOK_BASE_URL=BASE_URL,
        MEETBOOK_LOG_LEVEL="info",
        # Load from a few requesters is the point here, not the per-requester cap.
        MEETBOOK_RATE_LIMIT_CREATE="off",
        PYTHONUNBUFFERED="1",
    )
    for name, value in settings.items():
        env[f"MEETBOOK_{name.upper()}"] = str(value)
    return env


def db_upgrade(database_url: str, workdir: Path) -> None:
    """`meetbook db upgrade` on a fresh database."""
    done = subprocess.run(
        meetbook_command("db", "upgrade"),
        env=meetbook_env(database_url),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"meetbook db upgrade failed: {done.stderr[-2000:]}")


@contextlib.asynccontextmanager
async def fresh_database(
    backend: str, workdir: Path, *, admin_url: str | None = None
) -> AsyncIterator[str]:
    """A new database migrated by `meetbook db upgrade`; PostgreSQL's is dropped after.

    PostgreSQL's is made on `admin_url`, by default the tests' server (the test is
    skipped, or failed under MEETBOOK_REQUIRE_POSTGRES=1, when that does not answer).
    """
    from tests.conftest import (
        POSTGRES_URL,
        create_postgres_database,
        drop_postgres_database,
        require_postgres,
    )

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'meetbook.db'}"
        await asyncio.to_thread(db_upgrade, url, workdir)
        yield url
        return
    if admin_url is None:
        await require_postgres()
        admin_url = POSTGRES_URL
    url = await create_postgres_database(admin_url)
    try:
        await asyncio.to_thread(db_upgrade, url, workdir)
        yield url
    finally:
        await drop_postgres_database(admin_url, url)


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def child_pids(pid: int) -> list[int]:
    """Every descendant of `pid` (uvicorn's worker processes under its supervisor)."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found.append(int(child))
                found.extend(child_pids(int(child)))
    return found


class MeetbookProcess:
    """One `meetbook ...` command in its own process group, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], workdir: Path, name: str) -> None:
        self.args = args
        self.env = env
        self.workdir = workdir
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                meetbook_command(*self.args),
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def pids(self) -> list[int]:
        """The process and its descendants (for --workers N, the N API processes too)."""
        return [self.pid, *child_pids(self.pid)] if self.alive() else []

    def _signal_group(self, sig: signal.Signals) -> None:
        # The group id is our child's pid (start_new_session), so this reaches exactly the
        # processes this object started, uvicorn's workers included.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no lease release, connections dropped mid-flight."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.popen is None:
            return None
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._signal_group(signal.SIGKILL)  # stragglers of the group, if any
        return self.popen.poll()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class Server(MeetbookProcess):
    """`meetbook serve` on a free port of 127.0.0.1."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        workers: int = 1,
        run_worker: bool = False,
        name: str = "serve",
        **settings: object,
    ) -> None:
        self.port = free_port()
        self.workers = workers
        args = ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--workers", str(workers)]
        if not run_worker:
            args.append("--no-worker")
        super().__init__(args, meetbook_env(database_url, **settings), workdir, name)
        self.url = f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout: float = 90.0) -> None:
        """Until /healthz answers and every API process has finished its start-up."""
        deadline = time.monotonic() + timeout
        marker = "Application startup complete"
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    healthy = (await http.get("/healthz")).status_code == 200
                    started = self.log_text().split(f"--- start {self.starts} ---")[-1]
                    if healthy and started.count(marker) >= self.workers:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")


class Worker(MeetbookProcess):
    """`meetbook worker`."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        name: str = "worker",
        metrics_port: int | None = None,
        **settings: object,
    ) -> None:
        args = (
            ["worker"] if metrics_port is None else ["worker", "--metrics-port", str(metrics_port)]
        )
        super().__init__(args, meetbook_env(database_url, **settings), workdir, name)
        self.metrics_port = metrics_port

    def name_in_log(self) -> str:
        """The worker name this start logged (the `lease_owner` of the rows it claims)."""
        started = self.log_text().split(f"--- start {self.starts} ---")[-1]
        for line in started.splitlines():
            if '"worker.started"' in line:
                return str(json.loads(line)["worker"])
        raise AssertionError(f"{self.name} has not logged worker.started:\n{self.log_tail()}")

    async def wait_started(self, timeout: float = 90.0) -> None:
        """Until this start has logged `worker.started` (its signal handlers are set)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            if '"worker.started"' in self.log_text().split(f"--- start {self.starts} ---")[-1]:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not started after {timeout} s:\n{self.log_tail()}")


# People --------------------------------------------------------------------------------


async def seed_team(
    database_url: str, count: int, *, timezone: str = "UTC"
) -> tuple[int, list[Person]]:
    """A team of `count` new people with API tokens, written through the services."""
    engine = create_engine(Settings(database_url=database_url, secret_key=SECRET_KEY))
    people = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            team = await accounts.create_team(session, f"Team {secrets.token_hex(3)}")
            for number in range(count):
                name = f"Person {number}"
                email = f"p{number}-{secrets.token_hex(4)}@example.com"
                user = await accounts.create_user(
                    session, name=name, email=email, timezone=timezone, password=None
                )
                token, _ = await issue_token(session, user.id, "reliability")
                await accounts.add_member(session, team.id, user.id)
                people.append(Person(user.id, name, email, token))
            team_id = team.id
    finally:
        await engine.dispose()
    return team_id, people


async def query(database_url: str, sql: str | Executable, **params: Any) -> list[Any]:
    """Rows of one statement (SQL text or Core), run by this process directly and committed."""
    engine = create_engine(Settings(database_url=database_url, secret_key=SECRET_KEY))
    statement = text(sql) if isinstance(sql, str) else sql
    try:
        async with engine.begin() as connection:
            result = await connection.execute(statement, params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


def json_column(value: object) -> dict[str, Any]:
    """A JSON column as read back by raw SQL: a dict on PostgreSQL, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else dict(value)  # type: ignore[call-overload]


# Expected notifications -----------------------------------------------------------------


def expected_recipients(
    requester: int, recipient: int, changes: list[tuple[str, int]]
) -> Counter[tuple[str, int]]:
    """(event, user id) of every email the meeting should cause (CONTRACT §2).

    `changes` are the successful (action, actor id) in the order they happened.
    """
    expected: Counter[tuple[str, int]] = Counter({("meeting-created", recipient): 1})
    status = "pending"
    for action, actor in changes:
        if action == "confirm":
            expected[("meeting-confirmed", requester)] += 1
            expected[("meeting-confirmed", recipient)] += 1  # the invite, email only
            status = "confirmed"
        elif action == "reject":
            expected[("meeting-rejected", requester)] += 1
            status = "rejected"
        elif action == "cancel":
            other = recipient if actor == requester else requester
            expected[("meeting-cancelled", other)] += 1
            if status == "confirmed":  # both calendars hold the invite
                expected[("meeting-cancelled", actor)] += 1
            status = "cancelled"
        else:
            raise ValueError(action)
    return expected


# SMTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    message_id: str
    to: str
    subject: str
    at: float


@dataclass
class MessageIdSink:
    """aiosmtpd handler that keeps each delivery's Message-ID; can play a broken server.

    mode "accept" stores and answers 250; "refuse" answers DATA with 451 (a temporary
    failure); "hang" holds DATA unanswered until the mode changes or `hang_seconds`
    pass, as a server that stopped responding mid-transaction.
    """

    mode: str = "accept"
    hang_seconds: float = 60.0
    delay: float = 0.0  # seconds every DATA takes to answer, to keep sends in flight
    deliveries: list[Delivery] = field(default_factory=list)
    data_commands: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.data_commands += 1
        if self.mode == "hang":
            deadline = time.monotonic() + self.hang_seconds
            while self.mode == "hang" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.mode == "refuse":
            return "451 4.3.0 Temporarily unable to accept mail"
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        delivery = Delivery(
            str(message["Message-ID"]), str(message["To"]), str(message["Subject"]), time.time()
        )
        with self._lock:
            self.deliveries.append(delivery)
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def counts(self) -> Counter[str]:
        return Counter(d.message_id for d in self.snapshot())


class SmtpSink(Controller):  # type: ignore[misc]
    """aiosmtpd on 127.0.0.1, on `port` or (0) one the OS picks."""

    def __init__(self, handler: MessageIdSink, port: int = 0) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port)

    def _trigger_server(self) -> None:
        # The readiness probe connects to self.port: learn the real one first when it was 0.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of `target_port` that can break like a server.

    "pass" forwards both ways. "silent" accepts connections and forwards nothing, on new
    and already open connections alike (a hung server or a black-holed network: only the
    client's timeout ends it). "closed" stops listening and resets every open connection
    (the server died). Clients that keep connections open between uses, as SmtpSender
    does, meet the fault on those connections too. Runs in the caller's event loop.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.mode = "pass"
        self._passing = asyncio.Event()
        self._passing.set()
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def set_mode(self, mode: str) -> None:
        if mode not in ("pass", "silent", "closed"):
            raise ValueError(mode)
        self.mode = mode
        if mode == "pass":
            if self._server is None:
                await self.start()
            self._passing.set()
            return
        self._passing.clear()
        if mode == "closed":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()

    async def stop(self) -> None:
        await self.set_mode("closed")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            # A silent server does not even answer the greeting.
            await asyncio.wait_for(self._passing.wait(), timeout=120)
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pump(reader, upstream_writer), self._pump(upstream_reader, writer)
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            for end in (writer, upstream_writer):
                if end is not None:
                    self._writers.discard(end)
                    end.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        for _ in range(1_000_000):  # bounded; ends at EOF or a reset long before
            data = await source.read(65536)
            if not data:
                break
            await asyncio.wait_for(self._passing.wait(), timeout=120)
            target.write(data)
            await target.drain()
        target.transport.abort()  # one side is gone: so is the other


# A throwaway PostgreSQL cluster -----------------------------------------------------------

PG_BIN = Path(os.environ.get("MEETBOOK_PG_BIN", "/usr/lib/postgresql/15/bin"))


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own in a temp dir, which a test may stop or freeze.

    The shared server at :5432 is never touched. PostgreSQL refuses to run as root, so
    as root the binaries run as the `postgres` OS user (runuser) on a directory it owns.
    """

    def __init__(self) -> None:
        # Not under pytest's basetemp: that is private to root (0700), and the postgres
        # user must reach the directory.
        self.directory = Path(tempfile.mkdtemp(prefix="meetbook-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @staticmethod
    def unavailable() -> str | None:
        """Why a cluster cannot be made here, or None."""
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                return f"{PG_BIN / tool} not found (set MEETBOOK_PG_BIN)"
        if os.geteuid() == 0 and not shutil.which("runuser"):
            return "running as root without runuser to switch to the postgres user"
        return None

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def _pids(self) -> list[int]:
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *child_pids(postmaster)]

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster and every backend: the kernel still accepts connections,
        nothing answers, as with a hung host. Returns the pids for `thaw`."""
        pids = self._pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# Load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it."""

    kind: str
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no answer (connection refused/reset, client timeout)
    body: Any
    error: str | None = None


async def timed(
    http: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
) -> Outcome:
    started = time.monotonic()
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.HTTPError as error:
        return Outcome(kind, started, time.monotonic() - started, None, None, type(error).__name__)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Outcome(kind, started, time.monotonic() - started, response.status_code, body)


def api_client(base_url: str, *, timeout: float = 60.0) -> httpx.AsyncClient:
    """An HTTP client for a meetbook server.

    Idle connections are dropped after 1 s, before uvicorn closes them (5 s): a request
    sent on a connection the server is closing at that moment fails without an answer,
    which would be the harness's fault, not the server's.
    """
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=1.0)
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits)


def is_envelope(body: Any, status: int) -> bool:
    """The contract's error shape: {"error": status, "message": "..."}, nothing framework-made."""
    return (
        isinstance(body, dict)
        and body.get("error") == status
        and isinstance(body.get("message"), str)
        and bool(body["message"])
        and set(body) <= {"error", "message", "details"}
    )


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
