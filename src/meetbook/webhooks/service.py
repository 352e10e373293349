"""Managing a team's webhooks: team admins only (CONTRACT §1.9). Services flush, never commit.

The API and the team page's webhooks section both call these functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.errors import BadRequest, Conflict, Forbidden, NotFound
from meetbook.models import TeamMember, User, Webhook, WebhookAttempt
from meetbook.outbound import OutboundRefused, resolve_public_url
from meetbook.webhooks.outbox import enqueue_message, iso_z, message, new_message_id
from meetbook.webhooks.schemas import PING, WebhookCreate
from meetbook.webhooks.secrets import new_secret, seal_secret

log = logging.getLogger("meetbook.webhooks")

# The delivery log shows this many recent attempts.
RECENT_ATTEMPTS = 50


@dataclass(frozen=True)
class Created:
    webhook: Webhook
    secret: str  # in clear: shown once, in the answer that creates the webhook


async def require_team_admin(session: AsyncSession, team_id: int, user: User) -> None:
    """404 unless `user` is in the team (existence is not revealed), 403 unless its admin."""
    member = await session.get(TeamMember, (team_id, user.id))
    if member is None:
        raise NotFound(f"Team {team_id} was not found.")
    if member.role != "admin":
        raise Forbidden("Only an admin of this team can manage its webhooks.")


async def check_url(url: str, *, allow_private: bool) -> None:
    """400 naming `url` unless it is https to public addresses (or private ones are allowed)."""
    try:
        await resolve_public_url(url, allow_private=allow_private)
    except OutboundRefused as error:
        detail = f"is not allowed because {error.reason}"
        raise BadRequest(
            f"Invalid value for url: {detail}.", details=[{"field": "url", "message": detail}]
        ) from None


async def create_webhook(
    session: AsyncSession,
    team_id: int,
    user: User,
    body: WebhookCreate,
    *,
    secret_key: str,
    allow_private: bool,
) -> Created:
    await require_team_admin(session, team_id, user)
    await check_url(body.url, allow_private=allow_private)
    secret = new_secret()
    webhook = Webhook(
        team_id=team_id,
        url=body.url,
        events=body.events,
        secret_encrypted=seal_secret(secret, secret_key),
        enabled=True,
        created_by=user.id,
    )
    session.add(webhook)
    await session.flush()
    log.info("webhook.created", extra={"webhook_id": webhook.id, "team_id": team_id, "by": user.id})
    return Created(webhook, secret)


async def list_webhooks(session: AsyncSession, team_id: int, user: User) -> Sequence[Webhook]:
    await require_team_admin(session, team_id, user)
    query = select(Webhook).where(Webhook.team_id == team_id).order_by(Webhook.id)
    return (await session.scalars(query)).all()


async def team_webhook(session: AsyncSession, team_id: int, webhook_id: int, user: User) -> Webhook:
    """The team's webhook `webhook_id`, for its admins; 404 otherwise."""
    await require_team_admin(session, team_id, user)
    webhook = await session.get(Webhook, webhook_id)
    if webhook is None or webhook.team_id != team_id:
        raise NotFound(f"Webhook {webhook_id} was not found.")
    return webhook


async def delete_webhook(session: AsyncSession, team_id: int, webhook_id: int, user: User) -> None:
    """Delete the endpoint; its queued deliveries and its log go with it."""
    webhook = await team_webhook(session, team_id, webhook_id, user)
    await session.delete(webhook)
    await session.flush()
    log.info("webhook.deleted", extra={"webhook_id": webhook_id, "team_id": team_id, "by": user.id})


async def recent_attempts(
    session: AsyncSession, team_id: int, webhook_id: int, user: User
) -> Sequence[WebhookAttempt]:
    """The endpoint's recent delivery attempts, newest first."""
    await team_webhook(session, team_id, webhook_id, user)
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.webhook_id == webhook_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(RECENT_ATTEMPTS)
    )
    return (await session.scalars(query)).all()


def _require_enabled(webhook: Webhook) -> None:
    if not webhook.enabled:
        raise Conflict(
            f"This webhook is disabled ({webhook.disabled_reason or 'no reason recorded'}); "
            "add it again to receive events."
        )


async def send_ping(
    session: AsyncSession, team_id: int, webhook_id: int, user: User, now: datetime
) -> str:
    """Queue a `ping` for the endpoint; returns its message id."""
    webhook = await team_webhook(session, team_id, webhook_id, user)
    _require_enabled(webhook)
    message_id = new_message_id()
    payload = message(PING, now, None, user.id)
    await enqueue_message(session, [webhook], event=PING, message_id=message_id, payload=payload)
    await session.flush()
    log.info("webhook.ping", extra={"webhook_id": webhook_id, "by": user.id})
    return message_id


async def redeliver(
    session: AsyncSession, team_id: int, webhook_id: int, attempt_id: int, user: User
) -> str:
    """Queue the message of a logged attempt again: same body, same `webhook-id`."""
    webhook = await team_webhook(session, team_id, webhook_id, user)
    attempt = await session.get(WebhookAttempt, attempt_id)
    if attempt is None or attempt.webhook_id != webhook_id:
        raise NotFound(f"Delivery {attempt_id} was not found.")
    _require_enabled(webhook)
    await enqueue_message(
        session,
        [webhook],
        event=attempt.event,
        message_id=attempt.message_id,
        payload=attempt.payload,
    )
    await session.flush()
    log.info(
        "webhook.redeliver",
        extra={"webhook_id": webhook_id, "message_id": attempt.message_id, "by": user.id},
    )
    return attempt.message_id


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "team_id": webhook.team_id,
        "url": webhook.url,
        "events": list(webhook.events),
        "enabled": webhook.enabled,
        "disabled_reason": webhook.disabled_reason,
        "created_at": iso_z(webhook.created_at),
    }


def attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "message_id": attempt.message_id,
        "event": attempt.event,
        "attempt": attempt.attempt,
        "status_code": attempt.status_code,
        "at": iso_z(attempt.at),
        "response_excerpt": attempt.response_excerpt,
        "error": attempt.error,
    }
