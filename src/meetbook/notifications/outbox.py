"""Writing notifications into the outbox, in the caller's transaction.

Each event becomes one row per (recipient, channel): the recipient's email, and each of
their push devices unless the event is email-only. The rows commit with the state change
that caused them, so nothing is sent for a rolled-back change and nothing is lost once
the API has answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.models import Device, Meeting, Notification, utcnow
from meetbook.notifications.content import Event

# PostgreSQL NOTIFY channel: sent after a commit that wrote outbox rows
# (notifications/wakeup.py), so workers wake the moment new rows become visible.
NOTIFY_CHANNEL = "meetbook_outbox"
# Set on a session that wrote outbox rows; the app's after-commit hook wakes its worker.
OUTBOX_WRITTEN = "meetbook.outbox_written"

# Channels a device platform delivers through (the notification's `channel`).
PUSH_CHANNELS = {"fcm": "fcm", "webpush": "webpush"}


async def enqueue(
    session: AsyncSession,
    event: Event,
    meeting: Meeting,
    user_id: int,
    *,
    context: dict[str, Any],
    push: bool = True,
    due_at: datetime | None = None,
    key: str | None = None,
) -> list[Notification]:
    """Record `event` for `user_id`: an email, plus one push per registered device.

    `due_at` delays delivery until then; `key` lets `notifications/scheduled.py` move or
    cancel the rows later.
    """
    now = due_at or utcnow()
    rows = [
        Notification(
            event=event,
            meeting_id=meeting.id,
            user_id=user_id,
            channel="email",
            context=context,
            next_attempt_at=now,
            schedule_key=key,
        )
    ]
    if push:
        devices = (await session.scalars(select(Device).where(Device.user_id == user_id))).all()
        rows.extend(
            Notification(
                event=event,
                meeting_id=meeting.id,
                user_id=user_id,
                channel=PUSH_CHANNELS[device.platform],
                device_id=device.id,
                context=context,
                next_attempt_at=now,
                schedule_key=key,
            )
            for device in devices
        )
    session.add_all(rows)
    # The workers are woken once this commits (meetbook/notifications/wakeup.py).
    session.info[OUTBOX_WRITTEN] = True
    return rows
