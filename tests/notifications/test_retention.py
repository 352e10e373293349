"""Retention as a periodic job of the worker, on SQLite and PostgreSQL, with a movable clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, select, update

from meetbook.config import SettingsError, load_settings
from meetbook.models import DevEmail, IdempotencyKey, Notification, PeriodicJob
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.periodic import Periodic
from meetbook.notifications.retention import RETENTION, delete_expired
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.conftest import MovableClock, World, create_meeting, future


def make_worker(app, clock: MovableClock, **options) -> OutboxWorker:
    sessionmaker = app.state.sessionmaker
    return OutboxWorker(
        sessionmaker,
        Providers(email=DevMailbox(sessionmaker)),
        app.state.settings,
        clock=clock,
        **{"periodic": (RETENTION,), **options},
    )


async def count(sessionmaker, model) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def people(client, world: World, clock, sessionmaker):
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    created = await create_meeting(client, requester, recipient, team_id, future(clock, 5, 14))
    async with sessionmaker() as session, session.begin():
        # Only the created notice: the request's timed ones (its expiring nudge) aside.
        await session.execute(delete(Notification).where(Notification.schedule_key.is_not(None)))
    return created.json()["id"], requester, recipient


async def add_notifications(sessionmaker, meeting_id: int, user_id: int, rows) -> None:
    """`rows`: (status, next_attempt_at) pairs."""
    async with sessionmaker() as session, session.begin():
        session.add_all(
            Notification(
                event="meeting-confirmed",
                meeting_id=meeting_id,
                user_id=user_id,
                channel="email",
                context={},
                status=status,
                next_attempt_at=due,
            )
            for status, due in rows
        )


async def test_old_finished_rows_go_and_the_rest_stay(app, people, clock, sessionmaker) -> None:
    meeting_id, requester, recipient = people
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Notification).values(status="sent"))  # created: recent
    old, recent = clock.now - timedelta(days=91), clock.now - timedelta(days=89)
    await add_notifications(
        sessionmaker,
        meeting_id,
        recipient.id,
        [
            ("sent", old),
            ("failed", old),
            ("cancelled", old),
            ("pending", old),  # still to deliver: never deleted
            ("sent", recent),
        ],
    )
    async with sessionmaker() as session, session.begin():
        session.add_all(
            [
                DevEmail(
                    message_id="<old@t>", to_address="a", subject="s", raw="r", created_at=old
                ),
                DevEmail(
                    message_id="<new@t>", to_address="a", subject="s", raw="r", created_at=recent
                ),
                IdempotencyKey(
                    user_id=requester.id,
                    key="old",
                    request_hash="h",
                    created_at=clock.now - timedelta(hours=25),
                ),
                IdempotencyKey(
                    user_id=requester.id,
                    key="new",
                    request_hash="h",
                    created_at=clock.now - timedelta(hours=23),
                ),
            ]
        )

    assert await make_worker(app, clock).run_periodic() == ["retention"]

    async with sessionmaker() as session:
        left = (
            await session.execute(select(Notification.status, Notification.next_attempt_at))
        ).all()
        emails = (await session.scalars(select(DevEmail.message_id))).all()
        keys = (await session.scalars(select(IdempotencyKey.key))).all()
    assert sorted(status for status, _ in left) == ["pending", "sent", "sent"]
    assert emails == ["<new@t>"]
    assert keys == ["new"]


async def test_deletes_in_bounded_batches(app, people, clock, sessionmaker) -> None:
    meeting_id, _, recipient = people
    old = clock.now - timedelta(days=100)
    await add_notifications(sessionmaker, meeting_id, recipient.id, [("sent", old)] * 7)
    deletes: list[str] = []
    engine = sessionmaker.kw["bind"].sync_engine

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM NOTIFICATIONS"):
            deletes.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        deleted = await delete_expired(sessionmaker, app.state.settings, clock.now, batch_size=3)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    assert deleted["notifications"] == 7
    assert len(deletes) == 3  # 3 + 3 + 1
    assert await count(sessionmaker, Notification) == 1  # the meeting's own, recent


async def test_the_retention_days_setting_is_honoured(app, people, clock, sessionmaker) -> None:
    meeting_id, _, recipient = people
    await add_notifications(
        sessionmaker, meeting_id, recipient.id, [("sent", clock.now - timedelta(days=8))]
    )
    settings = app.state.settings.model_copy(update={"retention_days": 7})

    deleted = await delete_expired(sessionmaker, settings, clock.now)

    assert deleted == {
        "notifications": 1,
        "dev_emails": 0,
        "idempotency_keys": 0,
        "webhook_attempts": 0,
    }


async def test_runs_once_per_period_across_workers(app, people, clock, sessionmaker) -> None:
    workers = [make_worker(app, clock) for _ in range(3)]

    first = await asyncio.gather(*(w.run_periodic() for w in workers))
    assert sorted(first) == [[], [], ["retention"]]
    assert await asyncio.gather(*(w.run_periodic() for w in workers)) == [[], [], []]

    clock.advance(minutes=59)
    assert await asyncio.gather(*(w.run_periodic() for w in workers)) == [[], [], []]
    clock.advance(minutes=2)
    second = await asyncio.gather(*(w.run_periodic() for w in workers))
    assert sorted(second) == [[], [], ["retention"]]

    async with sessionmaker() as session:
        job = await session.get(PeriodicJob, "retention")
    assert job is not None and job.lease_owner is None
    assert job.last_run_at == clock.now
    assert job.due_at == clock.now + RETENTION.every


async def test_a_killed_runner_s_lease_runs_out(app, people, clock, sessionmaker) -> None:
    dead, alive = make_worker(app, clock), make_worker(app, clock)
    await dead._periodic._register(clock.now)
    assert await dead._periodic._claim(clock.now) == ["retention"]  # and is killed

    assert await alive.run_periodic() == []
    clock.advance(minutes=16)  # past the 15-minute job lease
    assert await alive.run_periodic() == ["retention"]


async def test_a_failing_job_is_retried_later_and_deliveries_go_on(
    app, people, clock, sessionmaker
) -> None:
    calls: list[object] = []

    async def broken(sessionmaker, settings, now) -> None:
        calls.append(now)
        raise RuntimeError("disk full")

    job = Periodic(name="broken", every=timedelta(hours=1), run=broken, retry=timedelta(minutes=5))
    worker = make_worker(app, clock, periodic=[job])
    clock.advance(seconds=5)  # past the created email's due time (the wall clock's)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        async with asyncio.timeout(10):
            while await count(sessionmaker, DevEmail) == 0:  # the created email goes out
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task

    assert len(calls) == 1
    async with sessionmaker() as session:
        row = await session.get(PeriodicJob, "broken")
    assert row is not None and "disk full" in (row.last_error or "")
    assert row.due_at == calls[0] + timedelta(minutes=5) and row.lease_owner is None
    clock.advance(minutes=6)
    assert await worker.run_periodic() == []  # still broken, but it ran again
    assert len(calls) == 2


def test_retention_days_default_to_90(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.delenv("MEETBOOK_RETENTION_DAYS", raising=False)
    assert load_settings().retention_days == 90


@pytest.mark.parametrize("value", ["0", "-3", "ninety", "1.5"])
def test_a_bad_retention_setting_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEETBOOK_RETENTION_DAYS", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("MEETBOOK_RETENTION_DAYS: ") and "\n" not in message
