"""Periodic jobs (retention, ...) run by the outbox worker, once per period across workers.

Each job has a row in `periodic_jobs` saying when it is next due. A worker that finds a
job due leases the row (the same claim as for outbox rows: FOR UPDATE SKIP LOCKED on
PostgreSQL, a serialized write on SQLite, and a compare-and-swap UPDATE on both), runs
the job and moves `due_at` one period on. Other workers see the lease or the new due time
and skip it; a worker killed mid-run leaves a lease that runs out, and the job is due
again. Jobs must therefore be idempotent (retention is: it deletes what is old).

Why a table of its own rather than outbox rows: a periodic job has no meeting, recipient
or channel, never "fails" for good, and must exist exactly once per name; the outbox's
columns and retry policy fit none of that. Future timed *notifications* (reminders,
expiry notices) are outbox rows with a due time instead (`notifications/scheduled.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.models import PeriodicJob
from meetbook.notifications.leases import is_free

log = logging.getLogger("meetbook.worker")

JobFunction = Callable[[async_sessionmaker[AsyncSession], Settings, datetime], Awaitable[object]]


@dataclass(frozen=True)
class Periodic:
    """A job and how often it runs; `retry` is the wait after a run that raised."""

    name: str
    every: timedelta
    run: JobFunction
    retry: timedelta = timedelta(minutes=5)


class PeriodicRunner:
    """Runs the due periodic jobs as `owner`, one lease per job."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        jobs: Sequence[Periodic],
        *,
        owner: str,
        lease: timedelta,
        postgres: bool,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.jobs = {job.name: job for job in jobs}
        self.owner = owner
        self.lease = lease
        self.postgres = postgres
        self._registered = False

    async def run_due(self, now: datetime) -> list[str]:
        """Run every job due at `now` that no other worker holds; returns their names."""
        if not self.jobs:
            return []
        if not self._registered:
            await self._register(now)
            self._registered = True
        ran = []
        for name in await self._claim(now):
            job = self.jobs[name]
            try:
                result = await job.run(self.sessionmaker, self.settings, now)
            except Exception as error:
                log.exception("job.failed", extra={"job": name, "worker": self.owner})
                await self._finish(name, due_at=now + job.retry, error=repr(error)[:1000])
            else:
                log.info("job.done", extra={"job": name, "worker": self.owner, "result": result})
                await self._finish(name, due_at=now + job.every, last_run_at=now)
                ran.append(name)
        return ran

    async def _register(self, now: datetime) -> None:
        """Make sure each job has its row; a new one is due at once."""
        insert = postgresql.insert if self.postgres else sqlite.insert
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                insert(PeriodicJob)
                .values([{"name": name, "due_at": now} for name in self.jobs])
                .on_conflict_do_nothing(index_elements=["name"])
            )

    async def _claim(self, now: datetime) -> list[str]:
        due = (
            PeriodicJob.name.in_(self.jobs),
            PeriodicJob.due_at <= now,
            is_free(PeriodicJob.lease_expires_at, now),
        )
        candidates = select(PeriodicJob.name).where(*due).order_by(PeriodicJob.name)
        if self.postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        async with self.sessionmaker() as session, session.begin():
            names = list((await session.scalars(candidates)).all())
            if not names:
                return []
            claimed = await session.scalars(
                update(PeriodicJob)
                .where(PeriodicJob.name.in_(names), *due)
                .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                .returning(PeriodicJob.name)
                .execution_options(synchronize_session=False)
            )
            return sorted(claimed.all())

    async def _finish(
        self,
        name: str,
        *,
        due_at: datetime,
        last_run_at: datetime | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, object] = {
            "due_at": due_at,
            "lease_owner": None,
            "lease_expires_at": None,
            "last_error": error,
        }
        if last_run_at is not None:
            values["last_run_at"] = last_run_at
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                update(PeriodicJob)
                .where(PeriodicJob.name == name, PeriodicJob.lease_owner == self.owner)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
