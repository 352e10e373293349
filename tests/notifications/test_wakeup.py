"""PostgreSQL: the workers' NOTIFY is sent after a commit that wrote outbox rows, never
for a rollback, and coalesced to at most one in flight per process
(notifications/wakeup.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.db import create_engine, create_sessionmaker, worker_wake_up
from meetbook.notifications.outbox import NOTIFY_CHANNEL, OUTBOX_WRITTEN
from meetbook.notifications.wakeup import WorkerWakeUp
from tests.conftest import MovableClock, World, backend_of, create_meeting, future, settings_for

# NOTIFY is PostgreSQL's: these tests run on that backend only (no skipped SQLite half).
pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest_asyncio.fixture
async def listener(database_url: str) -> AsyncIterator[list[float]]:
    """Arrival times (monotonic) of the NOTIFYs on the outbox channel."""
    assert backend_of(database_url) == "postgres"
    arrived: list[float] = []
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await connection.add_listener(NOTIFY_CHANNEL, lambda *_: arrived.append(time.monotonic()))
    try:
        yield arrived
    finally:
        await connection.close()


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest_asyncio.fixture
async def notifying(
    database_url: str, tmp_path: Path, listener: list[float]
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], WorkerWakeUp]]:
    """A sessionmaker of the app's kind and its NOTIFY sender."""
    engine = create_engine(settings_for(database_url, tmp_path))
    sessionmaker = create_sessionmaker(engine)
    wake_up = worker_wake_up(sessionmaker)
    assert wake_up is not None
    try:
        yield sessionmaker, wake_up
    finally:
        await wake_up.aclose()
        await engine.dispose()


async def test_a_commit_with_outbox_rows_notifies_and_a_rollback_does_not(
    notifying: tuple[async_sessionmaker[AsyncSession], WorkerWakeUp], listener: list[float]
) -> None:
    sessionmaker, wake_up = notifying
    async with sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        session.info[OUTBOX_WRITTEN] = True  # what outbox.enqueue marks
        await session.rollback()
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))  # no outbox rows: no NOTIFY either
    await wake_up.idle()
    assert wake_up.sent == 0
    async with sessionmaker() as session, session.begin():
        await session.execute(text("SELECT 1"))
        session.info[OUTBOX_WRITTEN] = True
        # Not inside the transaction: nothing is sent before the commit.
        await asyncio.sleep(0.2)
        assert listener == [] and wake_up.sent == 0
    await _until(lambda: len(listener) == 1)
    await wake_up.idle()
    assert wake_up.sent == 1


async def test_notifies_are_coalesced_and_the_last_follows_the_last_commit(
    notifying: tuple[async_sessionmaker[AsyncSession], WorkerWakeUp], listener: list[float]
) -> None:
    sessionmaker, wake_up = notifying

    async def commit_outbox_rows() -> float:
        async with sessionmaker() as session, session.begin():
            await session.execute(text("SELECT 1"))
            session.info[OUTBOX_WRITTEN] = True
        return time.monotonic()

    committed = await asyncio.gather(*(commit_outbox_rows() for _ in range(12)))
    await wake_up.idle()
    await _until(lambda: len(listener) == wake_up.sent)
    assert 1 <= wake_up.sent <= 12
    # Every commit is followed by a NOTIFY that began after it.
    assert max(listener) >= max(committed)
    # Asked for many times while one is under way: one more, not one each.
    sent = wake_up.sent
    for _ in range(10):
        wake_up.request()
    await wake_up.idle()
    assert wake_up.sent == sent + 2


async def test_a_create_through_the_api_notifies_the_workers(
    client, world: World, clock: MovableClock, listener: list[float]
) -> None:
    ana, bo = await world.person(), await world.person()
    team = await world.team(ana, bo)
    response = await create_meeting(client, ana, bo, team, future(clock))
    assert response.status_code == 201, response.text
    await _until(lambda: len(listener) >= 1)
