"""Webhook messages into the outbox, in the caller's transaction (channel `webhook`).

`notifications/events.py::publish` calls `enqueue_event` for every event it publishes, so
each event reaches the subscribed endpoints of the meeting's team with no per-event code.
The message (its body and its `webhook-id`) is fixed here, when the change commits: every
retry and redelivery sends the same body under the same id, so receivers can deduplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.db import transaction_cache
from meetbook.models import Meeting, Notification, Webhook, utcnow
from meetbook.notifications.outbox import wake_workers

CHANNEL = "webhook"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(
    event: str, at: datetime, meeting: dict[str, Any] | None, actor_id: int | None
) -> dict[str, Any]:
    """The body every receiver gets (CONTRACT §1.9)."""
    return {
        "type": event,
        "timestamp": iso_z(at),
        "data": {"meeting": meeting, "actor_id": actor_id},
    }


async def enqueue_message(
    session: AsyncSession,
    hooks: Iterable[Webhook],
    *,
    event: str,
    message_id: str,
    payload: dict[str, Any],
    meeting_id: int | None = None,
    due_at: datetime | None = None,
    key: str | None = None,
) -> list[Notification]:
    """One outbox row per endpoint for the message `message_id`."""
    rows = [
        Notification(
            event=event,
            meeting_id=meeting_id,
            user_id=None,
            channel=CHANNEL,
            webhook_id=hook.id,
            context={"message_id": message_id, "payload": payload},
            next_attempt_at=due_at or utcnow(),
            schedule_key=key,
        )
        for hook in hooks
    ]
    if rows:
        session.add_all(rows)
        await wake_workers(session)
    return rows


async def enqueue_event(
    session: AsyncSession,
    event: str,
    meeting: Meeting,
    *,
    actor_id: int | None,
    due_at: datetime | None = None,
    key: str | None = None,
) -> list[Notification]:
    """Queue `event` for every enabled endpoint of the meeting's team subscribed to it."""
    subscribed = [
        hook for hook in await _team_webhooks(session, meeting.team_id) if event in hook.events
    ]
    if not subscribed:
        return []
    # Imported here: meetings.queries imports the state machine, which imports the events
    # registry that imports this module.
    from meetbook.meetings.queries import meetings_json

    # The meeting as the API shows it right after the change (its updated_at is the change's time).
    await session.flush()
    at = meeting.updated_at
    [snapshot] = await meetings_json(session, [meeting], at)
    payload = message(event, at, snapshot, actor_id)
    return await enqueue_message(
        session,
        subscribed,
        event=event,
        message_id=new_message_id(),
        payload=payload,
        meeting_id=meeting.id,
        due_at=due_at,
        key=key,
    )


async def _team_webhooks(session: AsyncSession, team_id: int) -> list[Webhook]:
    """The team's enabled endpoints, read once per transaction: a change publishes its
    event and plans timed notices, each of which the webhooks hear of."""
    teams = transaction_cache(session, "webhooks")
    if team_id not in teams:
        teams[team_id] = list(
            await session.scalars(
                select(Webhook).where(Webhook.team_id == team_id, Webhook.enabled.is_(True))
            )
        )
    hooks: list[Webhook] = teams[team_id]
    return hooks
