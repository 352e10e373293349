"""A `meetbook worker` process killed mid-batch of reminders: none goes out twice with
different Message-IDs, and every one goes out.

Reminders are planned through the one entry point as of eight days ago, for meetings in
the next hours, so in real time (the worker's clock) they are all due at once.
"""

from __future__ import annotations

import signal
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.meetings import machine
from meetbook.meetings.schemas import MeetingCreate
from meetbook.meetings.service import create_meeting
from meetbook.models import Notification, User
from tests.conftest import World

from .test_worker_processes import (  # noqa: F401
    DRAIN_SECONDS,
    START_SECONDS,
    Sink,
    StartWorker,
    ids_by_notification,
    leased_rows,
    notification_id,
    pytestmark,
    sink,
    start_worker,
    wait_until,
)

MEETINGS = 20
REMINDER_MINUTES = [1440, 10080]


async def seed_due_reminders(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> list[int]:
    """Confirmed meetings whose reminders are all due now; returns the reminder row ids."""
    requester = await world.person("Rita Requester")
    recipient = await world.person("Carl Client")
    team_id = await world.team(requester, recipient)
    real_now = datetime.now(UTC).replace(microsecond=0)
    then = real_now - timedelta(days=8)
    async with sessionmaker() as session, session.begin():
        rita = await session.get(User, requester.id)
        carl = await session.get(User, recipient.id)
        assert rita is not None and carl is not None
        rita.reminder_minutes = carl.reminder_minutes = REMINDER_MINUTES
        for hours in range(1, MEETINGS + 1):
            start = (real_now + timedelta(hours=hours)).isoformat()
            payload = MeetingCreate(user_id=carl.id, team_id=team_id, date=start)
            meeting = await create_meeting(session, rita, payload, then)
            await machine.apply_action(session, meeting, "confirm", carl.id, then)
        # The created and confirmed notices are not what this test is about.
        await session.execute(
            update(Notification)
            .where(Notification.schedule_key.is_(None))
            .values(status="sent", attempts=1)
        )
    async with sessionmaker() as session:
        query = select(Notification.id).where(
            Notification.event == "meeting-reminder", Notification.status == "pending"
        )
        ids = list((await session.scalars(query)).all())
    assert len(ids) == MEETINGS * 2 * len(REMINDER_MINUTES)
    return ids


async def reminders_sent(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        query = select(Notification.id).where(
            Notification.event == "meeting-reminder", Notification.status == "sent"
        )
        return len((await session.scalars(query)).all())


async def test_a_worker_killed_mid_batch_sends_no_reminder_twice_with_different_ids(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    sink: tuple[Sink, int],  # noqa: F811
    start_worker: StartWorker,  # noqa: F811
) -> None:
    handler, port = sink
    handler.delay = 0.02
    handler.hold_after = 30  # sends 31.. hang in DATA: the worker is mid-batch
    ids = await seed_due_reminders(sessionmaker, world)

    first = start_worker(database_url, port, "first")
    await wait_until(lambda: handler.received > 30, timeout=START_SECONDS, what="31 DATA")
    first.process.kill()
    assert await first.wait_exit() == -signal.SIGKILL
    in_flight = await leased_rows(sessionmaker)
    assert len(in_flight) > 0, first.log_tail()

    # Stand-in for the lease running out, so the test need not wait for it.
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.lease_owner.is_not(None))
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    handler.gate.set()
    second = start_worker(database_url, port, "second")

    async def all_sent() -> bool:
        return await reminders_sent(sessionmaker) == len(ids)

    await wait_until(all_sent, timeout=DRAIN_SECONDS, what="every reminder sent")
    assert await second.terminate() == 0, second.log_tail()

    message_ids = handler.message_ids()
    grouped = ids_by_notification(message_ids)
    assert set(grouped) == set(ids)  # every reminder delivered at least once
    assert all(len(variants) == 1 for variants in grouped.values())  # one Message-ID each
    deliveries = Counter(notification_id(m) for m in message_ids)
    redelivered = {n for n, count in deliveries.items() if count > 1}
    assert redelivered <= {row.id for row in in_flight}
