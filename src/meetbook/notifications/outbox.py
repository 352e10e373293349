"""Writing notifications into the outbox, in the caller's transaction.

Each event becomes one row per (recipient, channel): the recipient's email, and each of
their push devices unless the event is email-only. The rows commit with the state change
that caused them, so nothing is sent for a rolled-back change and nothing is lost once
the API has answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.db import transaction_cache
from meetbook.models import Device, Meeting, Notification, utcnow
from meetbook.notifications.content import Event

# PostgreSQL NOTIFY channel: sent after a commit that wrote outbox rows
# (notifications/wakeup.py), so workers wake the moment new rows become visible.
NOTIFY_CHANNEL = "meetbook_outbox"
# Set on a session that wrote outbox rows; the app's after-commit hook wakes its worker.
OUTBOX_WRITTEN = "meetbook.outbox_written"

# A push device: its id and platform.
_Device = tuple[int, str]

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
        rows.extend(
            Notification(
                event=event,
                meeting_id=meeting.id,
                user_id=user_id,
                channel=PUSH_CHANNELS[platform],
                device_id=device_id,
                context=context,
                next_attempt_at=now,
                schedule_key=key,
            )
            for device_id, platform in await _devices(session, meeting, user_id)
        )
    session.add_all(rows)
    await wake_workers(session)
    return rows


async def _devices(session: AsyncSession, meeting: Meeting, user_id: int) -> list[_Device]:
    """`user_id`'s push devices (id, platform), read once per transaction for both of
    the meeting's participants: a change notifies them several times (its event, its
    timed notices)."""
    devices = transaction_cache(session, "devices")
    if user_id not in devices:
        users = {meeting.requester_id, meeting.recipient_id, user_id}
        found = await session.execute(
            select(Device.user_id, Device.id, Device.platform)
            .where(Device.user_id.in_(users))
            .order_by(Device.id)
        )
        devices.update({user: [] for user in users})
        for owner, device_id, platform in found:
            devices[owner].append((device_id, platform))
    result: list[_Device] = devices[user_id]
    return result


async def wake_workers(session: AsyncSession) -> None:
    """Have the workers look for new rows once this transaction commits (the NOTIFY is
    sent after the commit, coalesced: meetbook/notifications/wakeup.py)."""
    session.info[OUTBOX_WRITTEN] = True


# Account emails (`accounts/emails.py`): an invite or a password reset, email only.
AccountEmail = Literal["account-invite", "password-reset"]


async def enqueue_account_email(
    session: AsyncSession,
    kind: AccountEmail,
    *,
    ref_id: int,
    to_email: str,
    user_id: int | None,
    now: datetime,
) -> Notification:
    """Record an account email: about no meeting, possibly to an address with no account.

    `ref_id` names the invite or reset row; the link is recomputed from it when the
    email is written, so the row holds no usable link.
    """
    row = Notification(
        event=kind,
        meeting_id=None,
        user_id=user_id,
        channel="email",
        context={"ref_id": ref_id, "to_email": to_email},
        next_attempt_at=now,
    )
    session.add(row)
    await wake_workers(session)
    return row
