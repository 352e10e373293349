"""The team page's webhooks section: list, add, test and delete endpoints (team admins).

`webhooks_section(...)` gives the context of `templates/webhooks_section.html`, a partial
the team page includes; until that page exists, `/teams/{id}/webhooks` shows the section
alone. Plain forms (POST, then redirect) with the CSRF token; no JavaScript. The API and
these forms call the same service (`webhooks/service.py`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest
from meetbook.i18n import _
from meetbook.jsonbody import validate_body
from meetbook.models import Team
from meetbook.params import IdPath
from meetbook.timeformat import format_instant
from meetbook.web.errors import error_page
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import Viewer, ViewerDep, app_settings, read_form
from meetbook.web.templating import render
from meetbook.webhooks import service
from meetbook.webhooks.schemas import EVENTS, WebhookCreate

router = APIRouter(include_in_schema=False)
_LABELS = {"url": "The endpoint URL", "events": "Events:"}


async def webhooks_section(
    session: AsyncSession,
    team_id: int,
    viewer: Viewer,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    new_secret: str | None = None,
) -> dict[str, Any]:
    """The partial's context; raises Forbidden/NotFound unless the viewer is a team admin."""
    hooks = await service.list_webhooks(session, team_id, viewer.user)
    return {
        "webhooks_team_id": team_id,
        "webhooks": [
            {
                **service.webhook_json(hook),
                "created": format_instant(hook.created_at, viewer.zone),
            }
            for hook in hooks
        ],
        "webhook_events": EVENTS,
        "webhook_values": values or {"url": "", "events": []},
        "webhook_errors": defaultdict(str, errors or {}),
        "webhook_secret": new_secret,
    }


async def _page(
    request: Request,
    session: AsyncSession,
    team_id: int,
    viewer: Viewer,
    *,
    status_code: int = 200,
    **section: Any,
) -> Response:
    try:
        context = await webhooks_section(session, team_id, viewer, **section)
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    team = await session.get(Team, team_id)
    context["title"] = f"{_('Webhooks')} · {team.name if team else ''} · meetbook"
    context["team_name"] = team.name if team else ""
    return render(request, "webhooks.html", context, viewer=viewer, status_code=status_code)


def _back(team_id: int) -> str:
    return f"/teams/{team_id}#webhooks"


@router.get("/teams/{team_id}/webhooks")
async def webhooks_page(
    request: Request, team_id: IdPath, session: SessionDep, viewer: ViewerDep
) -> Response:
    """The team's webhooks (until the team page includes the section)."""
    return await _page(request, session, team_id, viewer)


@router.post("/teams/{team_id}/webhooks")
async def add_webhook(
    request: Request, team_id: IdPath, session: SessionDep, viewer: ViewerDep
) -> Response:
    form = await read_form(request, viewer)
    events = [e for e in (await request.form()).getlist("events") if isinstance(e, str)]
    values = {"url": form.get("url", "").strip()[:2100], "events": events}
    settings = app_settings(request)
    try:
        body = validate_body(WebhookCreate, values)
        created = await service.create_webhook(
            session,
            team_id,
            viewer.user,
            body,
            secret_key=settings.resolved_secret_key(),
            allow_private=settings.allow_private_targets,
        )
    except BadRequest as error:
        details = error.details or [{"field": "url", "message": error.message}]
        errors = {
            d["field"]: f"{_LABELS.get(d['field'], 'Value')} {d['message']}." for d in details
        }
        if "events" in errors and not events:
            errors["events"] = _("Choose at least one event.")
        return await _page(
            request, session, team_id, viewer, values=values, errors=errors, status_code=400
        )
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    # Shown in this response only, as the API does: never through a cookie or a redirect.
    return await _page(request, session, team_id, viewer, new_secret=created.secret)


@router.post("/teams/{team_id}/webhooks/{webhook_id}/test")
async def test_webhook(
    request: Request,
    team_id: IdPath,
    webhook_id: IdPath,
    session: SessionDep,
    viewer: ViewerDep,
    now: Now,
) -> Response:
    await read_form(request, viewer)
    return await _act(request, team_id, viewer, _ping(session, team_id, webhook_id, viewer, now))


@router.post("/teams/{team_id}/webhooks/{webhook_id}/delete")
async def delete_webhook(
    request: Request, team_id: IdPath, webhook_id: IdPath, session: SessionDep, viewer: ViewerDep
) -> Response:
    await read_form(request, viewer)
    return await _act(request, team_id, viewer, _delete(session, team_id, webhook_id, viewer))


async def _ping(
    session: AsyncSession, team_id: int, webhook_id: int, viewer: Viewer, now: datetime
) -> str:
    await service.send_ping(session, team_id, webhook_id, viewer.user, now)
    return _("A ping is on its way; its delivery shows in the webhook's deliveries.")


async def _delete(session: AsyncSession, team_id: int, webhook_id: int, viewer: Viewer) -> str:
    await service.delete_webhook(session, team_id, webhook_id, viewer.user)
    return _("Deleted. That endpoint no longer receives events.")


async def _act(request: Request, team_id: int, viewer: Viewer, action: Any) -> Response:
    try:
        done = await action
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    response = RedirectResponse(_back(team_id), status_code=303)
    add_flash(request, response, Flash("success", done))
    return response
