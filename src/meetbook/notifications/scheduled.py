"""Moving and cancelling scheduled notifications by their key, in the caller's transaction.

A scheduled notification is an outbox row due in the future (`enqueue(..., due_at=...,
key=...)`): the worker leaves it alone until `next_attempt_at`, then delivers it like
any other row, with the same leases and retries. The key names what the row is for
("reminder:<meeting>:<user>"), so a change to the meeting moves or cancels everything
under it in the same transaction as the change.

Racing the worker: the database serializes a cancel against a claim. A row cancelled
before it is claimed is never claimed. A row being sent when the cancel commits is marked
`cancelled` too; if that send then succeeds the row reads `sent` (it went out), and if it
fails it stays `cancelled` and is not retried. Either way no row reads `cancelled` after
being delivered, and nothing is sent after the cancel except a send already under way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.models import Notification
from meetbook.notifications.leases import is_free


async def cancel_scheduled(session: AsyncSession, *keys: str) -> int:
    """Cancel every pending row under any of `keys`; returns how many were cancelled."""
    under = Notification.schedule_key == keys[0]
    if len(keys) > 1:
        under = Notification.schedule_key.in_(keys)
    result = await session.execute(
        update(Notification)
        .where(under, Notification.status == "pending")
        .values(status="cancelled", last_error="cancelled")
        .execution_options(synchronize_session=False)
    )
    return _count(result)


async def reschedule(session: AsyncSession, key: str, due_at: datetime, *, now: datetime) -> int:
    """Make every pending row under `key` due at `due_at`; returns how many moved.

    A row being sent at `now` (under a live lease) is not moved: its send is under way.
    """
    result = await session.execute(
        update(Notification)
        .where(
            Notification.schedule_key == key,
            Notification.status == "pending",
            is_free(Notification.lease_expires_at, now),
        )
        .values(next_attempt_at=due_at)
        .execution_options(synchronize_session=False)
    )
    return _count(result)


def _count(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0
