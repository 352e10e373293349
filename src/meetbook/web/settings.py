"""/settings: name, timezone, API tokens and the Web Push opt-in."""

from __future__ import annotations

import functools
import logging
import zoneinfo
from collections import defaultdict
from itertools import groupby
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts.schemas import ProfilePatch
from meetbook.accounts.tokenlimits import check_new_token
from meetbook.auth.tokens import issue_token, revoke_token
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest, Forbidden, NotFound
from meetbook.jsonbody import read_json_object, validate_body
from meetbook.meetings.timeparse import is_valid_zone, resolve_zone
from meetbook.models import ApiToken
from meetbook.notifications.devices import register_device
from meetbook.notifications.schemas import PushSubscription
from meetbook.text import MAX_TOKEN_NAME_LENGTH, clean_line
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import (
    CSRF_HEADER,
    SESSION_TOKEN_NAME,
    Viewer,
    ViewerDep,
    app_settings,
    read_form,
    same_token,
)
from meetbook.web.templating import render
from meetbook.web.timeformat import format_instant, zone_offset

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)


@functools.cache
def _zone_groups() -> list[tuple[str, list[str]]]:
    """Every IANA zone, grouped by region ("America", "Europe", ...) for the picker."""
    names = sorted(name for name in zoneinfo.available_timezones() if is_valid_zone(name))
    regional = [name for name in names if "/" in name]
    other = [name for name in names if "/" not in name]
    groups = [
        (region, list(zones)) for region, zones in groupby(regional, lambda n: n.split("/")[0])
    ]
    return [*groups, ("Other", other)]


@functools.cache
def _application_server_key(pem_path: Path) -> str:
    # Imported here: the push stack is only needed when Web Push is configured.
    from meetbook.notifications.webpush import vapid_application_server_key

    return vapid_application_server_key(pem_path)


async def _tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(rows)


async def _settings_page(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    user = viewer.user
    tokens = [
        {
            "id": token.id,
            "name": token.name,
            "created": format_instant(token.created_at, viewer.zone),
            "last_used": format_instant(token.last_used_at, viewer.zone)
            if token.last_used_at
            else "Never",
            "is_current": token.id == viewer.token.id,
            "is_session": token.name == SESSION_TOKEN_NAME,
        }
        for token in await _tokens(session, user.id)
    ]
    settings = app_settings(request)
    push_key = (
        _application_server_key(settings.vapid_private_key) if settings.vapid_private_key else None
    )
    zone = resolve_zone(user.timezone)
    context: dict[str, Any] = {
        "title": "Settings · meetbook",
        "nav": "settings",
        "values": defaultdict(str, values or {"name": user.name, "timezone": user.timezone or ""}),
        "errors": defaultdict(str, errors or {}),
        "zone_groups": _zone_groups(),
        "zone_now": f"{zone.key} ({zone_offset(zone)})",
        "tokens": tokens,
        "push_key": push_key,
    }
    return render(request, "settings.html", context, viewer=viewer, status_code=status_code)


@router.get("/settings")
async def settings_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """Your name and timezone, API tokens and browser notifications."""
    return await _settings_page(request, session, viewer)


@router.post("/settings/profile")
async def save_profile(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    form = await read_form(request, viewer)
    values = {"name": form.get("name", "").strip(), "timezone": form.get("timezone", "").strip()}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Enter your name."
    try:
        patch = validate_body(
            ProfilePatch, {"name": values["name"] or None, "timezone": values["timezone"] or None}
        )
    except BadRequest as error:
        for detail in error.details or []:
            field = detail["field"]
            if field in values and field not in errors:
                label = "Name" if field == "name" else "Timezone"
                errors[field] = f"{label} {detail['message']}."
    if errors:
        return await _settings_page(
            request, session, viewer, values=values, errors=errors, status_code=400
        )
    user = viewer.user
    if patch.name is not None:
        user.name = patch.name
    if patch.timezone is not None:
        user.timezone = patch.timezone
    await session.flush()
    zone = resolve_zone(user.timezone)
    response = RedirectResponse("/settings", status_code=303)
    add_flash(
        request,
        response,
        Flash("success", f"Saved. Times are now shown in {zone.key} ({zone_offset(zone)})."),
    )
    return response


@router.post("/settings/tokens")
async def create_token(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    form = await read_form(request, viewer)
    raw_name = form.get("name", "")
    try:
        # The field's label starts the message: "Token name must not contain ...".
        label = clean_line(raw_name, "Token name", MAX_TOKEN_NAME_LENGTH, required=False)
        name = label or "API token"
        await check_new_token(request, session, viewer.user.id, name)
    except ApiError as error:
        user = viewer.user
        values = {"name": user.name, "timezone": user.timezone or "", "token_name": raw_name}
        page = await _settings_page(
            request,
            session,
            viewer,
            values=values,
            errors={"token_name": error.message},
            status_code=error.status,
        )
        page.headers.update(error.headers or {})  # Retry-After with a 429
        return page
    token, _row = await issue_token(session, viewer.user.id, name)
    log.info("web.token.created", extra={"user_id": viewer.user.id})
    response = RedirectResponse("/settings#tokens", status_code=303)
    text = f"Created the token \u201c{name}\u201d. Copy it now: it will not be shown again."
    add_flash(request, response, Flash("success", text, secret=token))
    return response


@router.post("/settings/tokens/{token_id:int}/revoke")
async def revoke(
    request: Request, token_id: int, session: SessionDep, viewer: ViewerDep
) -> Response:
    await read_form(request, viewer)
    revoked = token_id < 2**63 and await revoke_token(session, token_id, viewer.user.id)
    if token_id == viewer.token.id:
        # Revoking this browser's own session is signing out.
        response = RedirectResponse("/login", status_code=303)
        add_flash(request, response, Flash("info", "You are signed out."))
        return response
    response = RedirectResponse("/settings#tokens", status_code=303)
    if revoked:
        add_flash(request, response, Flash("success", "Revoked. That token no longer works."))
    else:
        add_flash(request, response, Flash("error", "That token was already revoked."))
    return response


@router.post("/settings/push-subscription")
async def push_subscription(
    request: Request, session: SessionDep, viewer: ViewerDep
) -> JSONResponse:
    """Register this browser's Web Push subscription (called by app.js)."""
    if not same_token(viewer.csrf_token, request.headers.get(CSRF_HEADER)):
        raise Forbidden("The CSRF token is missing or wrong; reload the page and try again.")
    if app_settings(request).vapid_private_key is None:
        raise NotFound("Web Push is not configured on this server.")
    # The same rules as POST /api/v3/devices: https endpoint, a real P-256 key.
    body = validate_body(PushSubscription, await read_json_object(request))
    subscription = {
        "endpoint": body.endpoint,
        "keys": {"p256dh": body.keys.p256dh, "auth": body.keys.auth},
    }
    device = await register_device(
        session, viewer.user.id, platform="webpush", token=body.endpoint, subscription=subscription
    )
    log.info("web.push.subscribed", extra={"user_id": viewer.user.id, "device_id": device.id})
    return JSONResponse({"id": device.id}, status_code=201)
