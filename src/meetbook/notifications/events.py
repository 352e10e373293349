"""Who hears of each event, and how: the one table from event to deliveries (CONTRACT §2).

A change publishes one event; each of its deliveries becomes outbox rows (an email, plus
a push per device unless the delivery is email-only) in the change's own transaction.
A new event, or a new audience for one, is a new entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.models import Meeting, Notification
from meetbook.notifications.content import Event
from meetbook.notifications.outbox import enqueue
from meetbook.webhooks.outbox import enqueue_event as enqueue_webhooks

# Whom a delivery goes to: a fixed role, or relative to the participant who acted.
Audience = Literal["requester", "recipient", "other", "actor", "both"]


@dataclass(frozen=True)
class Delivery:
    to: Audience
    # False: email only (a calendar copy for someone who needs no alert of their own act).
    push: bool = True
    # Only when the change sends or withdraws a calendar invite.
    invite_only: bool = False


DELIVERIES: dict[Event, tuple[Delivery, ...]] = {
    "meeting-created": (Delivery("recipient"),),
    # The one who confirmed gets the calendar invite too, by email only.
    "meeting-confirmed": (Delivery("other"), Delivery("actor", push=False)),
    "meeting-rejected": (Delivery("other"),),
    # Both calendars hold the invite of a confirmed meeting; both need the METHOD:CANCEL.
    "meeting-cancelled": (Delivery("other"), Delivery("actor", push=False, invite_only=True)),
    # A new time awaits the other participant's answer (CONTRACT §1.6).
    "meeting-proposed": (Delivery("other"),),
    # Told to the proposer: the one who declined is the awaited participant.
    "meeting-proposal-declined": (Delivery("other"),),
    # Both calendars move: the one who accepted gets the updated invite by email only.
    "meeting-rescheduled": (Delivery("other"), Delivery("actor", push=False)),
    # Timed notices: planned, not published, by meetings/timed_notices.py (due later, one
    # key per reader). The expiring nudge goes to whoever's answer is awaited: the
    # recipient of a request.
    "meeting-expiring": (Delivery("recipient"),),
    "meeting-expired": (Delivery("requester"),),
    "meeting-reminder": (Delivery("both"),),
}


def audience(to: Audience, meeting: Meeting, actor_id: int | None) -> list[int]:
    """The user ids `to` names for this meeting and actor."""
    requester, recipient = meeting.requester_id, meeting.recipient_id
    match to:
        case "requester":
            return [requester]
        case "recipient":
            return [recipient]
        case "both":
            return [requester, recipient]
        case "actor":
            return [actor_id] if actor_id in (requester, recipient) else []
        case "other":
            if actor_id == requester:
                return [recipient]
            return [requester] if actor_id == recipient else []


async def publish(
    session: AsyncSession,
    event: Event,
    meeting: Meeting,
    *,
    actor_id: int | None,
    context: dict[str, Any],
    invite: bool,
) -> list[Notification]:
    """Enqueue every delivery of `event` and its webhooks; `invite`: the change carries one."""
    rows: list[Notification] = []
    for delivery in DELIVERIES[event]:
        if delivery.invite_only and not invite:
            continue
        for user_id in audience(delivery.to, meeting, actor_id):
            rows += await enqueue(
                session, event, meeting, user_id, context=context, push=delivery.push
            )
    # And to the team's webhooks subscribed to it (CONTRACT §1.9), whatever the event.
    rows += await enqueue_webhooks(session, event, meeting, actor_id=actor_id)
    return rows
