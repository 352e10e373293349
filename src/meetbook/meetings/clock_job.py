"""The periodic job that writes the clock's statuses (`expired`, `completed`) into history.

Reads derive those statuses from the clock and never write, so a meeting nobody opens
would keep its stored `pending`/`confirmed` forever and its history would lack the
clock's entry. The worker runs this job every few minutes, in bounded batches, each
batch its own transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.meetings.machine import materialise_clock_statuses
from meetbook.notifications.periodic import Periodic

BATCH = 500


async def record_clock_statuses(
    sessionmaker: async_sessionmaker[AsyncSession], _settings: Settings, now: datetime
) -> int:
    """Materialise every stale clock status as of `now`; returns how many were written."""
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            done = await materialise_clock_statuses(session, now, BATCH)
        total += done
        if done < BATCH:
            return total


CLOCK_STATUSES = Periodic(
    name="clock-statuses", every=timedelta(minutes=5), run=record_clock_statuses
)
