"""A meeting's timed notices: reminders, the expiring nudge and the expired notice.

One entry point, `sync_timed_notices(session, meeting, now)`, computes from the meeting's
current state (status, start, who is awaited, the participants' `reminder_minutes`)
which notices are due later, cancels the scheduled ones that no longer are, and enqueues
the missing ones, all in the caller's transaction. It is idempotent: every notice has a
key naming what it is for, and a key that already has rows is not enqueued again. Create
and every state-machine change call it; so does a change of a user's reminder minutes.

- `meeting-reminder`: per participant and per minute value of their setting, due at
  start - minutes, for a confirmed meeting; none whose time had already passed when it
  was scheduled. The key holds the start, so a moved meeting gets new reminders (the
  old ones are cancelled) and each is sent at most once.
- `meeting-expiring`: to the awaited participant of a pending request, due 24 h before
  its start. A request made (or moved) less than 24 h before its start gets none: its
  own email has just told the awaited participant, and a second one at once is noise.
- `meeting-expired`: to the requester, enqueued (due at once) by the clock's change that
  marks a pending request expired: the worker's periodic `clock-statuses` job, or a read
  that saw it first. Only the compare-and-swap that wins makes that change, so it is
  enqueued once however many workers run; its key makes a repeat a no-op anyway.

The worker checks again before sending (`is_current`), so a notice that a change made
stale but that was claimed before the change committed is dropped, not sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts.schemas import DEFAULT_REMINDER_MINUTES

# The machine calls this module after every change, and this module reads the machine's
# statuses: a module import (attributes read at call time) keeps the cycle harmless.
from meetbook.meetings import machine
from meetbook.models import Meeting, Notification, User
from meetbook.notifications.content import Event
from meetbook.notifications.events import DELIVERIES, audience
from meetbook.notifications.outbox import enqueue
from meetbook.notifications.scheduled import cancel_scheduled
from meetbook.webhooks.outbox import enqueue_event as enqueue_webhooks

EXPIRING_LEAD = timedelta(hours=24)
TIMED_EVENTS = frozenset({"meeting-reminder", "meeting-expiring", "meeting-expired"})
# Bounds the meetings one change of reminder minutes re-plans (the soonest first).
RESYNC_LIMIT = 500


@dataclass(frozen=True)
class DueNotice:
    key: str
    event: Event
    user_id: int
    due_at: datetime
    context: dict[str, Any]


def reminder_minutes_of(user: User) -> tuple[int, ...]:
    """The user's reminder lead times (the default when never set)."""
    return _minutes_or_default(user.reminder_minutes)


def _minutes_or_default(minutes: list[int] | None) -> tuple[int, ...]:
    return DEFAULT_REMINDER_MINUTES if minutes is None else tuple(minutes)


def due_notices(
    meeting: Meeting, reminders: dict[int, tuple[int, ...]], now: datetime
) -> list[DueNotice]:
    """The timed notices `meeting` should have now; `reminders` maps user id to minutes."""
    now_ts = int(now.timestamp())
    status = machine.effective_status(meeting, now_ts)
    start = meeting.start_time
    base = {"actor_id": None, "sequence": meeting.sequence, "start_time": start}
    found: list[DueNotice] = []
    if status == "confirmed":
        for user_id in _readers("meeting-reminder", meeting):
            for minutes in reminders.get(user_id, ()):
                due = start - minutes * 60
                if due > now_ts:
                    found.append(
                        DueNotice(
                            key=f"meeting-reminder:{meeting.id}:{start}:{user_id}:{minutes}",
                            event="meeting-reminder",
                            user_id=user_id,
                            due_at=_at(due),
                            context={**base, "minutes": minutes},
                        )
                    )
    if status == "pending":
        # Not DELIVERIES' fixed role: whoever's answer is awaited now.
        awaited = machine.awaited_user_id(meeting, status)
        due = start - int(EXPIRING_LEAD.total_seconds())
        if awaited is not None and due > now_ts:
            found.append(
                DueNotice(
                    key=f"meeting-expiring:{meeting.id}:{start}:{awaited}",
                    event="meeting-expiring",
                    user_id=awaited,
                    due_at=_at(due),
                    context=dict(base),
                )
            )
    if status == "expired":
        # Written by the clock's change (the worker's clock-statuses job, or a read that
        # saw it first), which only the one compare-and-swap that wins makes: so once.
        found.extend(
            DueNotice(
                key=f"meeting-expired:{meeting.id}:{start}",
                event="meeting-expired",
                user_id=user_id,
                due_at=now,
                context=dict(base),
            )
            for user_id in _readers("meeting-expired", meeting)
        )
    return found


def is_current(event: str, context: dict[str, Any], meeting: Meeting, now: datetime) -> bool:
    """Whether a timed notice claimed now still says something true of `meeting`."""
    if event not in TIMED_EVENTS:
        return True
    if context.get("start_time") != meeting.start_time:
        return False  # the meeting moved since it was scheduled
    status = machine.effective_status(meeting, int(now.timestamp()))
    expected = {
        "meeting-reminder": ("confirmed",),
        "meeting-expiring": ("pending",),
        "meeting-expired": ("expired",),
    }[event]
    return status in expected


async def sync_timed_notices(
    session: AsyncSession, meeting: Meeting, now: datetime, *, created: bool = False
) -> None:
    """Bring the meeting's scheduled notices in line with its current state (idempotent).

    `created`: the meeting was inserted in this transaction, so nothing is scheduled for
    it yet (and nothing is read to find out).
    """
    reminders: dict[int, tuple[int, ...]] = {}
    # Only a confirmed meeting has reminders: the participants' settings are read for it.
    if machine.effective_status(meeting, int(now.timestamp())) == "confirmed":
        reminders = await _reminder_minutes(session, [meeting.requester_id, meeting.recipient_id])
    wanted = {notice.key: notice for notice in due_notices(meeting, reminders, now)}
    keyed: list[tuple[str, str]] = []
    if not created:
        rows = await session.execute(
            # Only this module's keys: other keyed rows of the meeting (a linked calendar's
            # sync) are not timed notices.
            select(Notification.schedule_key, Notification.status).where(
                Notification.meeting_id == meeting.id,
                Notification.schedule_key.is_not(None),
                Notification.event.in_(TIMED_EVENTS),
            )
        )
        keyed = [(key, status) for key, status in rows if key is not None]
    # A key with a row that was not cancelled is scheduled, or was sent: never again.
    scheduled = {key for key, status in keyed if status != "cancelled"}
    stale = {key for key, status in keyed if status == "pending"} - set(wanted)
    if stale:
        await cancel_scheduled(session, *sorted(stale))
    for key, notice in wanted.items():
        if key in scheduled:
            continue
        await enqueue(
            session,
            notice.event,
            meeting,
            notice.user_id,
            context=notice.context,
            push=DELIVERIES[notice.event][0].push,
            due_at=notice.due_at,
            key=key,
        )
        # The team's webhooks hear of it too, under the same key: cancelled and moved with
        # the notice (one message per notice, as for the people told).
        await enqueue_webhooks(
            session, notice.event, meeting, actor_id=None, due_at=notice.due_at, key=key
        )
    await session.flush()


async def resync_user_notices(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Re-plan the timed notices of the user's confirmed meetings still ahead.

    Called when their reminder minutes change, so reminders follow the new setting: the
    ones no longer wanted are cancelled and the new ones scheduled (none in the past).
    """
    now_ts = int(now.timestamp())
    meetings = (
        await session.scalars(
            select(Meeting)
            .where(
                (Meeting.requester_id == user_id) | (Meeting.recipient_id == user_id),
                Meeting.status == "confirmed",
                Meeting.start_time > now_ts,
            )
            .order_by(Meeting.start_time)
            .limit(RESYNC_LIMIT)
        )
    ).all()
    for meeting in meetings:
        await sync_timed_notices(session, meeting, now)


async def _reminder_minutes(
    session: AsyncSession, user_ids: list[int]
) -> dict[int, tuple[int, ...]]:
    """Each user's reminder lead times, by user id."""
    found = await session.execute(
        select(User.id, User.reminder_minutes).where(User.id.in_(user_ids))
    )
    return {user_id: _minutes_or_default(minutes) for user_id, minutes in found}


def _readers(event: Event, meeting: Meeting) -> list[int]:
    """Who hears of a timed notice, by the registry (no actor: the clock sends it)."""
    return [user for d in DELIVERIES[event] for user in audience(d.to, meeting, None)]


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
