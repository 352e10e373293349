"""Webhook routes (CONTRACT §1.9): a team's endpoints, their delivery log, ping, redeliver."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from meetbook.auth.deps import CurrentUser
from meetbook.clock import Now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.meetings.endpoints import ERRORS
from meetbook.params import IdPath
from meetbook.webhooks import service
from meetbook.webhooks.schemas import (
    AttemptList,
    Queued,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
)

router = APIRouter(prefix="/api/v3/teams/{team_id}/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookCreated, responses=ERRORS)
async def create_webhook(
    team_id: IdPath, body: WebhookCreate, request: Request, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Register an endpoint for the team's events (team admins); the secret is shown once."""
    settings: Settings = request.app.state.settings
    created = await service.create_webhook(
        session,
        team_id,
        user,
        body,
        secret_key=settings.resolved_secret_key(),
        allow_private=settings.allow_private_targets,
    )
    return {**service.webhook_json(created.webhook), "secret": created.secret}


@router.get("", response_model=WebhookList, responses=ERRORS)
async def list_webhooks(team_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The team's endpoints (team admins), without their secrets."""
    hooks = await service.list_webhooks(session, team_id, user)
    return {"data": [service.webhook_json(hook) for hook in hooks]}


@router.delete("/{webhook_id}", status_code=204, responses=ERRORS)
async def delete_webhook(
    team_id: IdPath, webhook_id: IdPath, session: SessionDep, user: CurrentUser
) -> Response:
    """Remove an endpoint; its queued deliveries are dropped."""
    await service.delete_webhook(session, team_id, webhook_id, user)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=AttemptList, responses=ERRORS)
async def deliveries(
    team_id: IdPath, webhook_id: IdPath, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Recent delivery attempts, newest first: event, status code, attempt, time."""
    attempts = await service.recent_attempts(session, team_id, webhook_id, user)
    return {"data": [service.attempt_json(attempt) for attempt in attempts]}


@router.post("/{webhook_id}/test", status_code=202, response_model=Queued, responses=ERRORS)
async def test_webhook(
    team_id: IdPath, webhook_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, str]:
    """Send the endpoint a `ping` (queued; see its deliveries)."""
    return {"message_id": await service.send_ping(session, team_id, webhook_id, user, now)}


@router.post(
    "/{webhook_id}/deliveries/{attempt_id}/redeliver",
    status_code=202,
    response_model=Queued,
    responses=ERRORS,
)
async def redeliver(
    team_id: IdPath, webhook_id: IdPath, attempt_id: IdPath, session: SessionDep, user: CurrentUser
) -> dict[str, str]:
    """Send a logged message again, with the same body and `webhook-id`."""
    message_id = await service.redeliver(session, team_id, webhook_id, attempt_id, user)
    return {"message_id": message_id}
