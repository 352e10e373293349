"""Retention: the periodic job that deletes what meetbook no longer needs (CONTRACT §5).

Finished notifications (sent, failed, cancelled) whose last due time is older than
MEETBOOK_RETENTION_DAYS, dev-mailbox emails and webhook delivery attempts older than that,
and idempotency keys older than their 24 hours. Deletion runs in bounded batches, each its
own short transaction, so a large backlog never holds SQLite's write lock (or many
PostgreSQL row locks) for long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, Delete, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.meetings.service import IDEMPOTENCY_TTL
from meetbook.models import DevEmail, IdempotencyKey, Notification, WebhookAttempt
from meetbook.notifications.periodic import Periodic

BATCH_SIZE = 1000
FINISHED = ("sent", "failed", "cancelled")


@dataclass(frozen=True)
class Deleted:
    notifications: int
    dev_emails: int
    idempotency_keys: int
    webhook_attempts: int


async def delete_expired(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    now: datetime,
    *,
    batch_size: int = BATCH_SIZE,
) -> dict[str, int]:
    """Delete everything past its retention at `now`; returns how many rows of each kind."""
    cutoff = now - timedelta(days=settings.retention_days)
    notifications = select(Notification.id).where(
        Notification.status.in_(FINISHED), Notification.next_attempt_at < cutoff
    )
    emails = select(DevEmail.id).where(DevEmail.created_at < cutoff)
    attempts = select(WebhookAttempt.id).where(WebhookAttempt.at < cutoff)
    key_columns = tuple_(IdempotencyKey.user_id, IdempotencyKey.key)
    keys = select(IdempotencyKey.user_id, IdempotencyKey.key).where(
        IdempotencyKey.created_at < now - IDEMPOTENCY_TTL
    )
    deleted = Deleted(
        notifications=await _in_batches(
            sessionmaker,
            lambda n: delete(Notification).where(Notification.id.in_(notifications.limit(n))),
            batch_size,
        ),
        dev_emails=await _in_batches(
            sessionmaker,
            lambda n: delete(DevEmail).where(DevEmail.id.in_(emails.limit(n))),
            batch_size,
        ),
        idempotency_keys=await _in_batches(
            sessionmaker,
            lambda n: delete(IdempotencyKey).where(key_columns.in_(keys.limit(n))),
            batch_size,
        ),
        webhook_attempts=await _in_batches(
            sessionmaker,
            lambda n: delete(WebhookAttempt).where(WebhookAttempt.id.in_(attempts.limit(n))),
            batch_size,
        ),
    )
    return asdict(deleted)


async def _in_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
    statement: Callable[[int], Delete],
    batch_size: int,
) -> int:
    total = 0
    while True:
        async with sessionmaker() as session, session.begin():
            result = await session.execute(
                statement(batch_size).execution_options(synchronize_session=False)
            )
        count = result.rowcount if isinstance(result, CursorResult) else 0
        total += count
        if count < batch_size:
            return total


RETENTION = Periodic(name="retention", every=timedelta(hours=1), run=delete_expired)
