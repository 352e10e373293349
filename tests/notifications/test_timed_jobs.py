"""Scheduled outbox rows: due later, moved or cancelled by key, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from meetbook.models import Meeting, Notification
from meetbook.notifications.delivery import Delivery, load_deliveries
from meetbook.notifications.outbox import enqueue
from meetbook.notifications.periodic import Periodic
from meetbook.notifications.scheduled import cancel_scheduled, reschedule
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers, RetryPolicy
from tests.conftest import MovableClock, World, create_meeting, future
from tests.notifications.peers import Inbox, LocalSmtpServer

FAST_RETRY = RetryPolicy(max_attempts=3, base_seconds=0.05, cap_seconds=0.2)


@pytest.fixture
def inbox():
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


def make_worker(app, port: int, clock: MovableClock, **options) -> OutboxWorker:
    sender = SmtpSender("127.0.0.1", port, timeout=5)
    options.setdefault("retry", FAST_RETRY)
    return OutboxWorker(
        app.state.sessionmaker, Providers(email=sender), app.state.settings, clock=clock, **options
    )


@pytest.fixture
async def meeting(client, world: World, clock, sessionmaker):
    """A meeting whose own created-notification is already done, so only ours are due."""
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    created = await create_meeting(client, requester, recipient, team_id, future(clock, 5, 14))
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Notification).values(status="sent"))
    return created.json()["id"], requester, recipient


async def schedule(sessionmaker, meeting_id: int, user_id: int, due_at, key: str) -> list[int]:
    async with sessionmaker() as session, session.begin():
        row = await session.get(Meeting, meeting_id)
        assert row is not None
        rows = await enqueue(
            session,
            "meeting-confirmed",
            row,
            user_id,
            context={"sequence": 0},
            due_at=due_at,
            key=key,
        )
        await session.flush()
        return [r.id for r in rows]


async def statuses(sessionmaker, key: str) -> list[str]:
    async with sessionmaker() as session:
        query = select(Notification.status).where(Notification.schedule_key == key)
        return list((await session.scalars(query.order_by(Notification.id))).all())


async def test_a_scheduled_row_waits_for_its_time(app, inbox, meeting, clock, sessionmaker) -> None:
    handler, port = inbox
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now + timedelta(hours=1), "k")
    worker = make_worker(app, port, clock)

    clock.advance(minutes=59)
    assert await worker.run_once() == 0
    clock.advance(minutes=2)
    await worker.drain()

    [message] = handler.messages()
    assert recipient.email in message["To"]
    assert await statuses(sessionmaker, "k") == ["sent"]


async def test_cancelled_rows_are_never_sent(app, inbox, meeting, clock, sessionmaker) -> None:
    handler, port = inbox
    meeting_id, requester, recipient = meeting
    due = clock.now + timedelta(minutes=30)
    await schedule(sessionmaker, meeting_id, recipient.id, due, "reminder:recipient")
    await schedule(sessionmaker, meeting_id, requester.id, due, "reminder:requester")

    async with sessionmaker() as session, session.begin():
        assert await cancel_scheduled(session, "reminder:recipient") == 1
        assert await cancel_scheduled(session, "nothing-here") == 0
    clock.advance(hours=1)
    await make_worker(app, port, clock).drain()

    [message] = handler.messages()
    assert requester.email in message["To"]
    assert await statuses(sessionmaker, "reminder:recipient") == ["cancelled"]
    assert await statuses(sessionmaker, "reminder:requester") == ["sent"]


async def test_reschedule_moves_every_row_under_the_key(
    app, inbox, meeting, clock, sessionmaker
) -> None:
    handler, port = inbox
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now + timedelta(hours=1), "k")
    async with sessionmaker() as session, session.begin():
        moved = await reschedule(session, "k", clock.now + timedelta(hours=3), now=clock.now)
    assert moved == 1
    worker = make_worker(app, port, clock)

    clock.advance(hours=2)
    assert await worker.run_once() == 0
    clock.advance(hours=2)
    await worker.drain()
    assert len(handler.messages()) == 1


async def test_a_row_being_sent_is_not_moved(app, inbox, meeting, clock, sessionmaker) -> None:
    _, port = inbox
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now, "k")
    assert await make_worker(app, port, clock)._claim()

    async with sessionmaker() as session, session.begin():
        assert await reschedule(session, "k", clock.now + timedelta(hours=1), now=clock.now) == 0


async def test_cancel_after_the_claim_of_a_send_that_succeeds_reads_sent(
    app, inbox, meeting, clock, sessionmaker
) -> None:
    """The send was under way when the cancel came: it went out, and the row says so."""
    handler, port = inbox
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now, "k")
    worker = make_worker(app, port, clock)
    claimed = await worker._claim()

    async with sessionmaker() as session, session.begin():
        assert await cancel_scheduled(session, "k") == 1
    [delivery] = await _load(worker, claimed)
    await worker._deliver(delivery)

    assert len(handler.messages()) == 1
    assert await statuses(sessionmaker, "k") == ["sent"]


async def test_cancel_after_the_claim_of_a_send_that_fails_is_not_retried(
    app, meeting, clock, sessionmaker, unused_port
) -> None:
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now, "k")
    worker = make_worker(app, unused_port, clock)  # SMTP refuses: a temporary failure
    claimed = await worker._claim()

    async with sessionmaker() as session, session.begin():
        await cancel_scheduled(session, "k")
    [delivery] = await _load(worker, claimed)
    await worker._deliver(delivery)

    assert await statuses(sessionmaker, "k") == ["cancelled"]
    clock.advance(hours=1)
    assert await worker.run_once() == 0


async def test_an_expired_lease_redelivers_a_scheduled_row(
    app, inbox, meeting, clock, sessionmaker
) -> None:
    handler, port = inbox
    meeting_id, _, recipient = meeting
    await schedule(sessionmaker, meeting_id, recipient.id, clock.now + timedelta(minutes=5), "k")
    clock.advance(minutes=5)
    dead = make_worker(app, port, clock, lease_seconds=60)
    assert await dead._claim()  # and is killed before sending
    alive = make_worker(app, port, clock)

    assert await alive.run_once() == 0  # the lease still holds
    clock.advance(seconds=61)
    await alive.drain()

    assert len(handler.messages()) == 1
    async with sessionmaker() as session:
        row = await session.scalar(select(Notification).where(Notification.schedule_key == "k"))
    assert row is not None and (row.status, row.attempts) == ("sent", 2)


async def test_cancels_racing_claims_never_send_a_cancelled_row(
    app, inbox, meeting, clock, world: World, sessionmaker
) -> None:
    """Two workers claim and send while every key is cancelled at a random moment."""
    handler, port = inbox
    meeting_id, _, _ = meeting
    people = [await world.person() for _ in range(16)]
    for index, person in enumerate(people):
        await schedule(sessionmaker, meeting_id, person.id, clock.now, f"race:{index}")
    workers = [make_worker(app, port, clock, batch_size=2) for _ in range(2)]
    order = list(range(len(people)))
    random.Random(7).shuffle(order)

    async def cancel_all() -> None:
        for index in order:
            await asyncio.sleep(random.uniform(0, 0.02))
            async with sessionmaker() as session, session.begin():
                await cancel_scheduled(session, f"race:{index}")

    await asyncio.gather(cancel_all(), *(w.drain() for w in workers))
    for w in workers:
        await w.drain()

    delivered = {address for e in handler.envelopes for address in e.rcpt_tos}
    for index, person in enumerate(people):
        [status] = await statuses(sessionmaker, f"race:{index}")
        assert status in ("sent", "cancelled")
        assert (status == "sent") == (person.email in delivered), (index, status)


async def _load(worker: OutboxWorker, claimed: list[Notification]) -> list[Delivery]:
    """The claimed rows as read after the claim (and after whatever the test did since)."""
    return await load_deliveries(worker.sessionmaker, [row.id for row in claimed])


async def test_a_wake_up_during_a_pass_is_not_lost(
    app, inbox, meeting, clock, sessionmaker
) -> None:
    """Work committed while the loop is busy is looked at next, not at the next poll."""
    handler, port = inbox
    meeting_id, _, recipient = meeting

    async def commit_work_and_wake(sessionmaker, settings, now) -> None:
        await schedule(sessionmaker, meeting_id, recipient.id, clock.now, "woken")
        worker.wake()  # what the app's after-commit hook does

    job = Periodic(name="adds-work", every=timedelta(hours=1), run=commit_work_and_wake)
    worker = make_worker(app, port, clock, poll_seconds=30, periodic=[job])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(5):  # far below the 30 s poll
            while not handler.envelopes:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    assert await statuses(sessionmaker, "woken") == ["sent"]
