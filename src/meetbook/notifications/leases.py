"""Claiming due outbox rows with a lease, and handing leases back.

Claiming: in one transaction, a SELECT picks a batch of due rows and an UPDATE sets their
lease. On PostgreSQL the SELECT uses FOR UPDATE SKIP LOCKED, so concurrent workers take
disjoint batches without waiting on each other; on SQLite every write transaction is
serialized, which makes the claim a single writer. A row whose lease runs out (its worker
was killed) is due again, so nothing is lost. A row is due when it is pending, its
`next_attempt_at` has come (a scheduled row waits for its time) and nobody holds it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from meetbook.models import Notification


def is_free(
    lease_expires_at: InstrumentedAttribute[datetime | None], now: datetime
) -> ColumnElement[bool]:
    """Nobody holds the row: never leased, released, or the lease has run out."""
    return or_(lease_expires_at.is_(None), lease_expires_at < now)


async def claim_notifications(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    limit: int,
    postgres: bool,
) -> list[Notification]:
    """Lease up to `limit` due rows to `owner`, counting an attempt; returns the rows (as
    the lease left them, in id order), so the worker need not read them again."""
    due = and_(
        Notification.status == "pending",
        Notification.next_attempt_at <= now,
        is_free(Notification.lease_expires_at, now),
    )
    candidates = (
        select(Notification.id)
        .where(due)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True)
    # Two statements, not `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
    # LOCKED)`: PostgreSQL may run that as a nested-loop semi-join that rescans the
    # subquery for every outer row, and each rescan skips the rows this statement has
    # already updated and locks the next n, so the "batch" became every due row.
    async with sessionmaker() as session, session.begin():
        ids = list((await session.scalars(candidates)).all())
        if not ids:
            return []
        claimed = await session.scalars(
            update(Notification)
            .where(Notification.id.in_(ids), due)
            .values(
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=Notification.attempts + 1,
            )
            .returning(Notification)
            .execution_options(synchronize_session=False)
        )
        return sorted(claimed.all(), key=lambda row: row.id)


async def release_notifications(
    sessionmaker: async_sessionmaker[AsyncSession], *, owner: str, unstarted: Collection[int]
) -> None:
    """Hand back every row `owner` still holds; `unstarted` ones get their attempt back."""
    async with sessionmaker() as session, session.begin():
        if unstarted:
            # Never attempted: give back the attempt the claim counted.
            await session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(unstarted),
                    Notification.lease_owner == owner,
                    Notification.status == "pending",
                )
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    attempts=Notification.attempts - 1,
                )
                .execution_options(synchronize_session=False)
            )
        await session.execute(
            update(Notification)
            .where(Notification.lease_owner == owner, Notification.status == "pending")
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )
