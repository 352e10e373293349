"""Notification delivery: the worker against raw SMTP, and create→inbox latency.

    python -m bench.notifications_bench --backend sqlite --count 500 --concurrency 4

Everything runs on 127.0.0.1, against a local aiosmtpd sink that accepts every message:

(a) raw: aiosmtplib sends the N messages the worker would send (rendered beforehand), C at
    a time, one connection per message as SmtpSender once did ("raw, reused": C
    connections kept open, as SmtpSender now does: the like-for-like comparison);
(b) worker: an OutboxWorker with C delivery slots drains N outbox rows to the sink, from
    the first claim until every row is `sent`; the ratio b/a is its efficiency;
(c) latency: a `meetbook serve` process (its in-process worker sending to the sink) takes
    a steady create load; each create is timed from its 201 answer to the sink's
    acceptance of its email, matched by the meeting id in the Message-ID.

Each figure is the median over --repeat runs. The machine's other load shows up in
every number: compare figures from one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from meetbook.accounts import service as accounts
from meetbook.auth.tokens import issue_token
from meetbook.config import Settings
from meetbook.db import create_engine, create_sessionmaker
from meetbook.meetings.schemas import MeetingCreate
from meetbook.meetings.service import create_meeting
from meetbook.migrate import upgrade_async
from meetbook.models import Notification, User
from meetbook.notifications.delivery import load_deliveries, notice_for
from meetbook.notifications.email import render_email
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SECRET_KEY = "bench-secret-key-" + "x" * 32
MEETING_IN_ID = re.compile(rb"^Message-ID:\s*<notification-\d+\.meeting-(\d+)@", re.M | re.I)


# The sink ---------------------------------------------------------------------------------


@dataclass
class Sink:
    """aiosmtpd handler: accepts everything, noting when each meeting's email arrived."""

    accepted: int = 0
    arrivals: dict[int, float] = field(default_factory=dict)  # meeting id → monotonic time

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        now = time.monotonic()
        self.accepted += 1
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        match = MEETING_IN_ID.search(content[:4096])
        if match:
            self.arrivals.setdefault(int(match.group(1)), now)
        return "250 Message accepted for delivery"


class SinkServer(Controller):  # type: ignore[misc]
    """aiosmtpd on 127.0.0.1 with an OS-chosen port, in a thread of this process."""

    def __init__(self, handler: Sink) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=0)

    def _trigger_server(self) -> None:
        # Controller's readiness probe connects to self.port: learn the real port first.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


# The database -------------------------------------------------------------------------------


def _check_loopback(url: str) -> None:
    host = make_url(url).host
    if host not in LOOPBACK:
        raise SystemExit(f"refusing to use a database on {host!r}: only 127.0.0.1 is allowed")


@contextlib.asynccontextmanager
async def bench_database(backend: str, workdir: Path, admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this run; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        await upgrade_async(url)
        yield url
        return
    _check_loopback(admin_url)
    name = f"meetbook_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        await upgrade_async(url)
        yield url
    finally:
        with contextlib.suppress(Exception):
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@dataclass
class Cast:
    requester_id: int
    recipient_id: int
    team_id: int
    token: str  # the requester's API token


async def make_cast(sessionmaker: async_sessionmaker[AsyncSession]) -> Cast:
    tag = secrets.token_hex(3)
    async with sessionmaker() as session, session.begin():
        requester = await accounts.create_user(
            session,
            name="Rita Requester",
            email=f"rita-{tag}@example.com",
            timezone="Europe/London",
            password=None,
        )
        recipient = await accounts.create_user(
            session,
            name="Carl Client",
            email=f"carl-{tag}@example.com",
            timezone="America/New_York",
            password=None,
        )
        team = await accounts.create_team(session, "Bench team")
        await accounts.add_member(session, team.id, requester.id)
        await accounts.add_member(session, team.id, recipient.id)
        token, _ = await issue_token(session, requester.id, "bench")
    return Cast(requester.id, recipient.id, team.id, token)


def _meeting_date(days: int = 7) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%d 15:00:00")


async def seed_outbox(
    sessionmaker: async_sessionmaker[AsyncSession], cast: Cast, count: int
) -> list[int]:
    """`count` meetings created through the meetings service; the ids of their new outbox
    rows that are due now (a create also plans timed notices for later, left alone)."""
    payload = MeetingCreate(user_id=cast.recipient_id, team_id=cast.team_id, date=_meeting_date())
    now = datetime.now(UTC).replace(microsecond=0)
    async with sessionmaker() as session:
        before = await session.scalar(select(func.max(Notification.id))) or 0
    for start in range(0, count, 500):
        async with sessionmaker() as session, session.begin():
            requester = await session.get(User, cast.requester_id)
            assert requester is not None
            for _ in range(min(500, count - start)):
                await create_meeting(session, requester, payload, now)
    async with sessionmaker() as session:
        query = (
            select(Notification.id)
            .where(Notification.id > before, Notification.next_attempt_at <= datetime.now(UTC))
            .order_by(Notification.id)
        )
        return list((await session.scalars(query)).all())


async def sent_count(sessionmaker: async_sessionmaker[AsyncSession], ids: list[int]) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).where(Notification.id.in_(ids), Notification.status == "sent")
        return int(await session.scalar(query) or 0)


# (a) raw SMTP ----------------------------------------------------------------------------------


async def render_messages(worker: OutboxWorker, ids: list[int]) -> list[EmailMessage]:
    """The messages the worker would send for `ids`, rendered the way it renders them."""
    deliveries = await load_deliveries(worker.sessionmaker, ids)
    settings = worker.settings
    return [
        render_email(
            notice_for(delivery),
            mail_from=settings.mail_from,
            base_url=settings.base_url,
            domain=settings.mail_domain,
        )
        for delivery in deliveries
    ]


@dataclass
class Rate:
    per_second: float
    cpu_ms: float  # CPU of this process (sender and sink) per message: steadier than the rate


async def measured(count: int, work: Awaitable[Any], seconds: float = 300) -> Rate:
    """Run `work` (bounded) and turn its wall and CPU time into per-message figures."""
    cpu, started = time.process_time(), time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        raise SystemExit(f"gave up after {seconds:.0f} s") from None
    elapsed = time.perf_counter() - started
    return Rate(count / elapsed, (time.process_time() - cpu) / count * 1000)


async def raw_fresh_connections(messages: list[EmailMessage], port: int, concurrency: int) -> None:
    """aiosmtplib.send (one connection per message, as SmtpSender did), `concurrency` at once."""
    slots = asyncio.Semaphore(concurrency)

    async def send(message: EmailMessage) -> None:
        async with slots:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=30)

    await asyncio.gather(*(send(m) for m in messages))


async def raw_reused_connections(messages: list[EmailMessage], port: int, concurrency: int) -> None:
    """The messages over `concurrency` connections kept open."""
    queue: asyncio.Queue[EmailMessage] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)

    async def connection() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30) as smtp:
            while not queue.empty():
                await smtp.send_message(queue.get_nowait())

    await asyncio.gather(*(connection() for _ in range(concurrency)))


# (b) the worker -------------------------------------------------------------------------------


async def worker_delivery(worker: OutboxWorker, ids: list[int]) -> None:
    """From the first claim until every row of `ids` is sent."""
    await worker.drain(timeout=300)
    done = await sent_count(worker.sessionmaker, ids)
    if done != len(ids):
        raise RuntimeError(f"the worker sent {done} of {len(ids)} rows")


# (c) create → accepted latency -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def meetbook_serve(
    database_url: str,
    smtp_port: int,
    workdir: Path,
    start_timeout: float,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[str]:
    """A `meetbook serve` process on loopback (worker in-process); yields its base URL."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETBOOK_")}
    env.update(
        MEETBOOK_DATABASE_URL=database_url,
        MEETBOOK_SECRET_KEY=SECRET_KEY,
        MEETBOOK_BASE_URL=base_url,
        MEETBOOK_SMTP_HOST="127.0.0.1",
        MEETBOOK_SMTP_PORT=str(smtp_port),
        MEETBOOK_LOG_LEVEL="warning",
        # Benchmarks measure delivery, not the per-requester cap on new requests.
        MEETBOOK_RATE_LIMIT_CREATE="off",
    )
    env.update(extra_env or {})
    log_path = workdir / "serve.log"
    serve_dir = workdir / "serve"
    serve_dir.mkdir(exist_ok=True)  # no developer's .env is read from here
    with log_path.open("wb") as log:
        command = [sys.executable, "-m", "meetbook.cli", "serve", "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=serve_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + start_timeout
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"meetbook serve exited; see {log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"meetbook serve not healthy in {start_timeout:.0f} s")
                await asyncio.sleep(0.2)
        yield base_url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)


@dataclass
class LatencyRun:
    created: int
    delivered: int
    create_ms: list[float]  # request sent → 201 received
    delivery_ms: list[float]  # 201 received → the sink accepted the email


async def latency_run(
    base_url: str, cast: Cast, sink: Sink, *, rate: float, duration: float, settle: float
) -> LatencyRun:
    """Open-loop load: a create every 1/rate s for `duration` s, each in its own task."""
    answered: dict[int, float] = {}
    create_ms: list[float] = []
    failures = 0
    body = {"user_id": cast.recipient_id, "team_id": cast.team_id, "date": _meeting_date()}
    headers = {"Authorization": f"Bearer {cast.token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:

        async def create() -> None:
            nonlocal failures
            sent = time.monotonic()
            try:
                response = await http.post("/api/v3/meeting/create", json=body, headers=headers)
            except httpx.HTTPError:
                failures += 1
                return
            received = time.monotonic()
            if response.status_code != 201:
                failures += 1
                return
            answered[int(response.json()["id"])] = received
            create_ms.append((received - sent) * 1000)

        total = round(rate * duration)
        started = time.monotonic()
        tasks = []
        for n in range(total):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(create()))
        await asyncio.gather(*tasks)
    deadline = time.monotonic() + settle
    # The sink's thread adds to `arrivals`; dict.copy() is atomic under the GIL.
    while time.monotonic() < deadline and not answered.keys() <= sink.arrivals.copy().keys():
        await asyncio.sleep(0.05)
    arrivals = sink.arrivals.copy()
    delivery_ms = [
        (arrivals[meeting] - at) * 1000 for meeting, at in answered.items() if meeting in arrivals
    ]
    if failures:
        print(f"  note: {failures} of {total} creates failed", file=sys.stderr)
    return LatencyRun(len(answered), len(delivery_ms), create_ms, delivery_ms)


# Running it all --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def _timed(what: str, work: Awaitable[Any], seconds: float) -> Any:
    try:
        async with asyncio.timeout(seconds):
            return await work
    except TimeoutError:
        raise SystemExit(f"{what}: gave up after {seconds:.0f} s") from None


async def run(args: argparse.Namespace) -> None:
    handler = Sink()
    server = SinkServer(handler)
    server.start()
    workdir = Path(tempfile.mkdtemp(prefix="meetbook-bench-"))
    try:
        async with bench_database(args.backend, workdir, args.postgres_url) as url:
            await _throughput(args, url, handler, server.port)
            if not args.no_latency:
                await _latency(args, url, handler, server.port, workdir)
    except BaseException:
        print(f"kept {workdir} (database, serve.log) for a look", file=sys.stderr)
        raise
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    finally:
        server.stop()


async def _throughput(args: argparse.Namespace, url: str, sink: Sink, port: int) -> None:
    settings = Settings(
        database_url=url,
        secret_key=SECRET_KEY,
        base_url="http://127.0.0.1:8000",
        smtp_host="127.0.0.1",
        smtp_port=port,
    )
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    cast = await make_cast(sessionmaker)
    fresh: list[Rate] = []
    reused: list[Rate] = []
    delivered: list[Rate] = []
    try:
        for repetition in range(args.repeat):
            ids = await seed_outbox(sessionmaker, cast, args.count)
            sender = SmtpSender("127.0.0.1", port, timeout=30)
            worker = OutboxWorker(
                sessionmaker, Providers(email=sender), settings, concurrency=args.concurrency
            )
            messages = await render_messages(worker, ids)
            n, c = len(messages), args.concurrency
            fresh.append(await measured(n, raw_fresh_connections(messages, port, c)))
            reused.append(await measured(n, raw_reused_connections(messages, port, c)))
            delivered.append(await measured(n, worker_delivery(worker, ids)))
            await sender.aclose()
            print(
                f"  run {repetition + 1}: raw {fresh[-1].per_second:6.1f}/s"
                f"  raw reused {reused[-1].per_second:6.1f}/s"
                f"  worker {delivered[-1].per_second:6.1f}/s",
                file=sys.stderr,
            )
    finally:
        await engine.dispose()

    def rate(runs: list[Rate]) -> str:
        return (
            f"{median([r.per_second for r in runs]):8.1f} {median([r.cpu_ms for r in runs]):8.2f}"
        )

    ratios = [b.per_second / a.per_second for a, b in zip(fresh, delivered, strict=True)]
    cpu_ratios = [a.cpu_ms / b.cpu_ms for a, b in zip(fresh, delivered, strict=True)]
    # SmtpSender keeps connections open too: this is the like-for-like comparison.
    reused_ratios = [b.per_second / a.per_second for a, b in zip(reused, delivered, strict=True)]
    reused_cpu_ratios = [a.cpu_ms / b.cpu_ms for a, b in zip(reused, delivered, strict=True)]
    print()
    print(
        f"Throughput: {args.count} emails, concurrency {args.concurrency}, backend {args.backend},"
        f" median of {args.repeat}"
    )
    print(f"  {'':<46} {'msg/s':>8} {'CPU ms':>8}")
    print(f"  {'(a) raw aiosmtplib, a connection per message':<46} {rate(fresh)}")
    print(f"  {'    raw aiosmtplib, connections kept open':<46} {rate(reused)}")
    print(f"  {'(b) OutboxWorker, claim → all sent':<46} {rate(delivered)}")
    print(f"  {'    b / a by rate (target ≥ 0.5)':<46} {median(ratios):8.2f}")
    print(f"  {'    b / a by CPU per message':<46} {median(cpu_ratios):8.2f}")
    print(f"  {'    b / raw reused, by rate':<46} {median(reused_ratios):8.2f}")
    print(f"  {'    b / raw reused, by CPU per message':<46} {median(reused_cpu_ratios):8.2f}")
    print("  (CPU ms: this process's CPU per message, sender and sink together)")


async def _latency(
    args: argparse.Namespace, url: str, sink: Sink, port: int, workdir: Path
) -> None:
    engine = create_engine(Settings(database_url=url, secret_key=SECRET_KEY))
    cast = await make_cast(create_sessionmaker(engine))
    await engine.dispose()
    runs: list[LatencyRun] = []
    async with meetbook_serve(url, port, workdir, args.start_timeout) as base_url:
        if args.warmup > 0:  # a fresh process's first requests are slow (imports, caches)
            await _timed(
                "warm-up",
                latency_run(
                    base_url, cast, sink, rate=args.rate, duration=args.warmup, settle=args.settle
                ),
                args.warmup + args.settle + 120,
            )
        for repetition in range(args.repeat):
            result = await _timed(
                "latency",
                latency_run(
                    base_url,
                    cast,
                    sink,
                    rate=args.rate,
                    duration=args.duration,
                    settle=args.settle,
                ),
                args.duration + args.settle + 120,
            )
            runs.append(result)
            print(
                f"  run {repetition + 1}: {result.created} created, {result.delivered} delivered,"
                f" delivery p50 {percentile(result.delivery_ms, 0.5):.0f} ms"
                f" p99 {percentile(result.delivery_ms, 0.99):.0f} ms",
                file=sys.stderr,
            )
    print()
    print(
        f"Latency: {args.rate:g} creates/s for {args.duration:g} s against `meetbook serve`,"
        f" backend {args.backend}, median of {args.repeat}"
    )
    table = [
        ("created (201)", median([r.created for r in runs]), "", ""),
        ("delivered to the sink", median([r.delivered for r in runs]), "", ""),
        (
            "create request → 201",
            "",
            median([percentile(r.create_ms, 0.5) for r in runs]),
            median([percentile(r.create_ms, 0.99) for r in runs]),
        ),
        (
            "201 → sink accepted the email",
            "",
            median([percentile(r.delivery_ms, 0.5) for r in runs]),
            median([percentile(r.delivery_ms, 0.99) for r in runs]),
        ),
    ]
    print(f"  {'':<34} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for label, count, p50, p99 in table:
        count_text = f"{count:7.0f}" if count != "" else " " * 7
        p50_text = f"{p50:8.1f}" if p50 != "" else " " * 8
        p99_text = f"{p99:8.1f}" if p99 != "" else " " * 8
        print(f"  {label:<34} {count_text} {p50_text} {p99_text}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notifications_bench",
        description=(__doc__ or "").splitlines()[0],
    )
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--count", type=int, default=500, help="emails per throughput run")
    parser.add_argument("--concurrency", type=int, default=4, help="delivery slots (C)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--rate", type=float, default=20.0, help="creates per second in (c)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load in (c)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of unmeasured load before (c)"
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds to wait for the last emails in (c)"
    )
    parser.add_argument(
        "--start-timeout", type=float, default=120.0, help="seconds for `meetbook serve` to start"
    )
    parser.add_argument("--no-latency", action="store_true", help="skip (c)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MEETBOOK_BENCH_POSTGRES_URL")
        or os.environ.get("MEETBOOK_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES,
        help="a PostgreSQL server on 127.0.0.1 where a scratch database may be created",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="hard limit for the whole run"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if not 1 <= args.count <= 100_000 or not 1 <= args.concurrency <= 256:
        raise SystemExit("--count must be 1..100000 and --concurrency 1..256")
    if not 1 <= args.repeat <= 20 or not 0 < args.rate <= 500 or not 0 < args.duration <= 300:
        raise SystemExit("--repeat must be 1..20, --rate 0..500 and --duration 0..300")
    if not 0 <= args.warmup <= 60 or not 0 < args.settle <= 300:
        raise SystemExit("--warmup must be 0..60 and --settle 0..300")

    async def bounded() -> None:
        await _timed("the benchmark", run(args), args.max_seconds)

    asyncio.run(bounded())


if __name__ == "__main__":
    main()
