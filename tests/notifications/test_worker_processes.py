"""Real `meetbook worker` processes against a real SMTP sink: killed, stopped, two at once.

Each test seeds the outbox through the meetings service (the rows the API would write),
starts `python -m meetbook.cli worker` processes pointed at the test database and at an
aiosmtpd server on 127.0.0.1, and checks what reached the sink by Message-ID.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.meetings.schemas import MeetingCreate
from meetbook.meetings.service import create_meeting
from meetbook.models import Notification, User
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.conftest import World, backend_of, clean_environment

from .peers import Inbox, LocalSmtpServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# `meetbook worker` claims OutboxWorker's default batch: at most this many rows in flight.
BATCH_SIZE = 32
CONCURRENCY = 4
# Upper bounds for waits; generous because the machine is shared. Nothing sleeps to "hope".
START_SECONDS = 90.0
DRAIN_SECONDS = 120.0
EXIT_SECONDS = 30.0
MESSAGE_ID = re.compile(r"<notification-(\d+)\.meeting-(\d+)@[^>]+>")


@dataclass
class Sink(Inbox):
    """An Inbox that can be slow and can hold every DATA after the first `hold_after`.

    Holding lets a test freeze a worker mid-batch: its sends sit in DATA, unanswered,
    until the test opens `gate`.
    """

    delay: float = 0.0
    hold_after: int | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    received: int = 0  # DATA commands begun, held or not

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        self.received += 1
        if self.hold_after is not None and self.received > self.hold_after:
            deadline = time.monotonic() + DRAIN_SECONDS
            while not self.gate.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if self.delay:
            await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    def message_ids(self) -> list[str]:
        parser = BytesHeaderParser(policy=policy.default)
        ids = []
        for envelope in list(self.envelopes):
            assert isinstance(envelope.content, bytes)
            ids.append(str(parser.parsebytes(envelope.content)["Message-ID"]))
        return ids


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    handler.gate.set()  # let held handlers finish before the server stops
    server.stop()


@dataclass
class WorkerProcess:
    """One `meetbook worker` process; its JSON log lines go to `log_path`."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def events(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by SIGKILL
        return entries

    def logged(self, event: str) -> int:
        return sum(1 for entry in self.events() if entry.get("event") == event)

    def log_tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])

    async def wait_exit(self, timeout: float = EXIT_SECONDS) -> int:
        return await asyncio.to_thread(self.process.wait, timeout)

    async def terminate(self) -> int:
        """SIGTERM, then the exit status (bounded)."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit()


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Start `meetbook worker` processes; any still running at the end are killed."""
    started: list[WorkerProcess] = []

    def start(database_url: str, smtp_port: int, name: str) -> WorkerProcess:
        workdir = tmp_path / name
        workdir.mkdir()  # its own working directory, so no developer's .env is read
        env = clean_environment()
        env.update(
            MEETBOOK_DATABASE_URL=database_url,
            MEETBOOK_SECRET_KEY="test-secret-key-" + "x" * 32,
            MEETBOOK_BASE_URL="http://meetbook.test",
            MEETBOOK_SMTP_HOST="127.0.0.1",
            MEETBOOK_SMTP_PORT=str(smtp_port),
            MEETBOOK_SMTP_TIMEOUT="10",
            MEETBOOK_LOG_LEVEL="info",
        )
        log_path = workdir / "worker.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "meetbook.cli",
                    "worker",
                    "--concurrency",
                    str(CONCURRENCY),
                ],
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait(timeout=EXIT_SECONDS)


async def wait_until(condition: Callable[[], Any], *, timeout: float, what: str) -> None:
    """Poll `condition` (sync or async) every 20 ms until true; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


async def seed_created_meetings(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, count: int
) -> list[int]:
    """`count` meetings created through the service in one transaction; their outbox row ids."""
    requester = await world.person("Rita Requester")
    recipient = await world.person("Carl Client")
    team_id = await world.team(requester, recipient)
    now = datetime.now(UTC).replace(microsecond=0)
    date = (now + timedelta(days=7)).strftime("%Y-%m-%d 15:00:00")
    payload = MeetingCreate(user_id=recipient.id, team_id=team_id, date=date)
    async with sessionmaker() as session, session.begin():
        user = await session.get(User, requester.id)
        assert user is not None
        for _ in range(count):
            await create_meeting(session, user, payload, now)
        # Only the created notices: each request's expiring nudge (days ahead) aside.
        await session.execute(delete(Notification).where(Notification.schedule_key.is_not(None)))
    async with sessionmaker() as session:
        ids = list((await session.scalars(select(Notification.id))).all())
    assert len(ids) == count
    return ids


async def status_counts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        )
        return {status: count for status, count in rows.tuples()}


async def leased_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with sessionmaker() as session:
        query = select(Notification).where(Notification.lease_owner.is_not(None))
        return list((await session.scalars(query)).all())


async def all_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Notification]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(Notification))).all())


def notification_id(message_id: str) -> int:
    match = MESSAGE_ID.fullmatch(message_id)
    assert match, f"unexpected Message-ID {message_id!r}"
    return int(match.group(1))


def ids_by_notification(message_ids: list[str]) -> dict[int, set[str]]:
    grouped: dict[int, set[str]] = defaultdict(set)
    for message_id in message_ids:
        grouped[notification_id(message_id)].add(message_id)
    return grouped


async def test_a_claim_takes_at_most_one_batch(
    app: Any, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    """What a killed worker can send twice is bounded by what one claim takes."""
    await seed_created_meetings(sessionmaker, world, 3 * BATCH_SIZE)
    providers = Providers(email=DevMailbox(sessionmaker))
    worker = OutboxWorker(sessionmaker, providers, app.state.settings, batch_size=BATCH_SIZE)
    first, second = await worker._claim(), await worker._claim()
    assert len(first) == len(second) == BATCH_SIZE
    assert not {row.id for row in first} & {row.id for row in second}
    assert len(await leased_rows(sessionmaker)) == 2 * BATCH_SIZE


async def test_sigkill_mid_batch_redelivers_with_the_same_message_ids(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    sink: tuple[Sink, int],
    start_worker: StartWorker,
) -> None:
    handler, port = sink
    handler.delay = 0.02
    handler.hold_after = 40  # the 41st..44th sends hang in DATA: the worker is mid-batch
    ids = await seed_created_meetings(sessionmaker, world, 200)

    first = start_worker(database_url, port, "first")
    await wait_until(lambda: handler.received > 40, timeout=START_SECONDS, what="41 DATA")
    first.process.kill()
    assert await first.wait_exit() == -signal.SIGKILL
    # Claimed by the dead worker and not recorded: exactly what may go out twice.
    in_flight = await leased_rows(sessionmaker)
    assert 0 < len(in_flight) <= BATCH_SIZE, first.log_tail()
    assert {row.status for row in in_flight} == {"pending"}

    # Stand-in for the 120 s lease running out, so the test need not wait for it.
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.lease_owner.is_not(None))
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    handler.gate.set()
    second = start_worker(database_url, port, "second")

    async def all_sent() -> bool:
        return (await status_counts(sessionmaker)).get("sent") == len(ids)

    await wait_until(all_sent, timeout=DRAIN_SECONDS, what="all 200 rows sent")
    assert await second.terminate() == 0, second.log_tail()

    message_ids = handler.message_ids()
    grouped = ids_by_notification(message_ids)
    assert set(grouped) == set(ids)  # every notification delivered at least once
    assert all(len(variants) == 1 for variants in grouped.values())  # one Message-ID each
    duplicates = len(message_ids) - len(set(message_ids))
    assert duplicates <= len(in_flight)
    deliveries = Counter(notification_id(m) for m in message_ids)
    redelivered = {n for n, count in deliveries.items() if count > 1}
    assert redelivered <= {row.id for row in in_flight}


async def test_two_workers_deliver_each_notification_exactly_once(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    sink: tuple[Sink, int],
    start_worker: StartWorker,
) -> None:
    # PostgreSQL: FOR UPDATE SKIP LOCKED hands the two workers disjoint batches. SQLite:
    # BEGIN IMMEDIATE makes every claim a single serialized writer; exactly once holds too.
    handler, port = sink
    handler.delay = 0.005
    workers = [start_worker(database_url, port, f"worker-{n}") for n in (1, 2)]
    for worker in workers:
        await wait_until(
            lambda w=worker: w.logged("worker.started") or w.process.poll() is not None,
            timeout=START_SECONDS,
            what="worker.started",
        )
        assert worker.process.poll() is None, worker.log_tail()

    ids = await seed_created_meetings(sessionmaker, world, 500)

    async def all_sent() -> bool:
        return (await status_counts(sessionmaker)).get("sent") == len(ids)

    await wait_until(all_sent, timeout=DRAIN_SECONDS, what="all 500 rows sent")
    for worker in workers:
        assert await worker.terminate() == 0, worker.log_tail()

    message_ids = handler.message_ids()
    assert len(set(message_ids)) == 500
    assert len(message_ids) == 500
    assert set(ids_by_notification(message_ids)) == set(ids)
    assert all(row.attempts == 1 for row in await all_rows(sessionmaker))
    # Both took part (otherwise this would not test concurrent claiming).
    sent_by = [worker.logged("notification.sent") for worker in workers]
    assert sum(sent_by) == 500
    assert min(sent_by) > 0, (backend_of(database_url), sent_by)


async def test_sigterm_finishes_in_flight_sends_and_releases_the_rest(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    sink: tuple[Sink, int],
    start_worker: StartWorker,
) -> None:
    handler, port = sink
    handler.hold_after = 10  # sends 11..14 hang in DATA: all four slots busy
    ids = await seed_created_meetings(sessionmaker, world, 200)

    worker = start_worker(database_url, port, "stopped")
    await wait_until(
        lambda: handler.received >= 10 + CONCURRENCY, timeout=START_SECONDS, what="held sends"
    )
    worker.process.send_signal(signal.SIGTERM)
    await wait_until(
        lambda: worker.logged("worker.stopping"), timeout=EXIT_SECONDS, what="worker.stopping"
    )
    handler.gate.set()  # the in-flight sends complete now
    started = time.monotonic()
    assert await worker.wait_exit() == 0, worker.log_tail()
    assert time.monotonic() - started < EXIT_SECONDS

    assert await leased_rows(sessionmaker) == []
    # The four in-flight sends finished and were recorded; no new send began after SIGTERM.
    assert handler.received == 10 + CONCURRENCY
    counts = await status_counts(sessionmaker)
    assert counts == {"sent": 10 + CONCURRENCY, "pending": len(ids) - 10 - CONCURRENCY}
    rows = await all_rows(sessionmaker)
    # A claimed row that was never attempted does not lose one of its attempts.
    assert {row.attempts for row in rows if row.status == "pending"} <= {0}

    # Released rows are due at once (no lease to wait out), and nothing goes out twice.
    successor = start_worker(database_url, port, "successor")

    async def all_sent() -> bool:
        return (await status_counts(sessionmaker)).get("sent") == len(ids)

    await wait_until(all_sent, timeout=DRAIN_SECONDS, what="all 200 rows sent")
    assert await successor.terminate() == 0, successor.log_tail()
    message_ids = handler.message_ids()
    assert len(message_ids) == len(set(message_ids)) == len(ids)
