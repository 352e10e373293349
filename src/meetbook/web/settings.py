"""/settings: name, timezone, API tokens, the Web Push opt-in and the calendar feed."""

from __future__ import annotations

import functools
import logging
import zoneinfo
from collections import defaultdict
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts.schemas import ProfilePatch
from meetbook.accounts.service import update_profile
from meetbook.accounts.tokenlimits import check_new_token
from meetbook.auth.sessions import describe_browser
from meetbook.auth.tokens import KIND_SESSION, active_tokens, issue_token, revoke_token
from meetbook.availability import calendar as linked_calendars
from meetbook.availability import service as availability
from meetbook.availability.schemas import LinkedCalendarIn, Week
from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest, Forbidden, NotFound
from meetbook.i18n import DEFAULT_LOCALE, LOCALE_NAMES, N_, _, current_locale, use_locale
from meetbook.jsonbody import validate_body
from meetbook.meetings.timed_notices import reminder_minutes_of
from meetbook.meetings.timeparse import is_valid_zone, resolve_zone
from meetbook.notifications.content import lead_time
from meetbook.notifications.devices import register_web_push
from meetbook.notifications.schemas import PushSubscription
from meetbook.text import MAX_TOKEN_NAME_LENGTH, clean_line
from meetbook.timeformat import format_instant, zone_offset
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import (
    CSRF_HEADER,
    Viewer,
    ViewerDep,
    app_settings,
    read_form,
    same_token,
)
from meetbook.web.templating import render

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)

# The profile form's error per field (the API's own messages stay English).
_PROFILE_ERRORS = {
    "name": N_("Enter a name of up to 200 characters, without control or invisible characters."),
    "timezone": N_("Timezone must be a valid IANA timezone name such as Europe/Paris."),
    "locale": N_("Choose one of the languages offered."),
}


def _profile_values(user: Any) -> dict[str, str]:
    """The profile form's fields as saved."""
    return {"name": user.name, "timezone": user.timezone or "", "locale": user.locale}


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
    from meetbook.notifications.vapid import vapid_application_server_key

    return vapid_application_server_key(pem_path)


async def _settings_page(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    now: datetime,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    new_token: tuple[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The page; `new_token` (name, secret) is shown once, in this response only."""
    user = viewer.user
    tokens = [
        {
            "id": token.id,
            "name": token.name,
            "created": format_instant(token.created_at, viewer.zone),
            "last_used": format_instant(token.last_used_at, viewer.zone)
            if token.last_used_at
            else _("Never"),
            "is_current": token.id == viewer.token.id,
            "is_session": token.kind == KIND_SESSION,
            "browser": describe_browser(token.user_agent),
            "address": token.ip_address or _("unknown address"),
        }
        for token in await active_tokens(session, user.id, now)
    ]
    settings = app_settings(request)
    push_key = (
        _application_server_key(settings.vapid_private_key) if settings.vapid_private_key else None
    )
    zone = resolve_zone(user.timezone)
    feed = await availability.feed_of(session, user.id)
    context: dict[str, Any] = {
        "title": _("Settings") + " · meetbook",
        "nav": "settings",
        "values": defaultdict(str, {**_profile_values(user), **(values or {})}),
        "locales": list(LOCALE_NAMES.items()),
        "errors": defaultdict(str, errors or {}),
        "zone_groups": _zone_groups(),
        "zone_now": f"{zone.key} ({zone_offset(zone)})",
        "tokens": tokens,
        "new_token": new_token,
        "push_key": push_key,
        "week": working_hours_rows(user, values),
        "reminders": reminder_rows(user, values),
        "calendar_feed": feed is not None,
        "calendar_feed_created": format_instant(feed.created_at, viewer.zone) if feed else "",
        "linked_calendar": await linked_calendar_view(session, user.id, viewer.zone),
    }
    return render(request, "settings.html", context, viewer=viewer, status_code=status_code)


@router.get("/settings")
async def settings_page(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """Your name and timezone, API tokens and browser notifications."""
    return await _settings_page(request, session, viewer, now)


@router.post("/settings/profile")
async def save_profile(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    values = {
        "name": form.get("name", "").strip(),
        "timezone": form.get("timezone", "").strip(),
        # A form from before the language selector keeps the language.
        "locale": form.get("locale", viewer.user.locale).strip(),
    }
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Enter your name.")
    try:
        patch = validate_body(
            ProfilePatch,
            {
                "name": values["name"] or None,
                "timezone": values["timezone"] or None,
                "locale": values["locale"] or None,
            },
        )
    except BadRequest as error:
        for detail in error.details or []:
            field = detail["field"]
            if field in values and field not in errors:
                # English keeps the API's precise sentence ("Name must not contain ...").
                english = field == "name" and current_locale() == DEFAULT_LOCALE
                errors[field] = (
                    f"Name {detail['message']}." if english else _(_PROFILE_ERRORS[field])
                )
    if errors:
        return await _settings_page(
            request, session, viewer, now, values=values, errors=errors, status_code=400
        )
    user = await update_profile(session, viewer.user, patch, now)
    use_locale(user.locale)  # the confirmation already in the language just chosen
    zone = resolve_zone(user.timezone)
    response = RedirectResponse("/settings", status_code=303)
    shown = f"{zone.key} ({zone_offset(zone)})"
    text = _("Saved. Times are now shown in %(zone)s.", zone=shown)
    add_flash(request, response, Flash("success", text))
    return response


@router.post("/settings/tokens")
async def create_token(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    raw_name = form.get("name", "")
    try:
        # The field's label starts the message: "Token name must not contain ...".
        label = clean_line(raw_name, "Token name", MAX_TOKEN_NAME_LENGTH, required=False)
        name = label or _("API token")
        await check_new_token(request, session, viewer.user.id)
    except ApiError as error:
        user = viewer.user
        values = {**_profile_values(user), "token_name": raw_name}
        page = await _settings_page(
            request,
            session,
            viewer,
            now,
            values=values,
            errors={"token_name": error.message},
            status_code=error.status,
        )
        page.headers.update(error.headers or {})  # Retry-After with a 429
        return page
    token, _row = await issue_token(session, viewer.user.id, name)
    log.info("web.token.created", extra={"user_id": viewer.user.id})
    # Shown in this response, not carried through a redirect: a cookie holding it would
    # sit in the browser (and any proxy's logs) for as long as the cookie lives.
    return await _settings_page(request, session, viewer, now, new_token=(name, token))


@router.post("/settings/tokens/{token_id:int}/revoke")
async def revoke(
    request: Request, token_id: int, session: SessionDep, viewer: ViewerDep
) -> Response:
    await read_form(request, viewer)
    revoked = token_id < 2**63 and await revoke_token(session, token_id, viewer.user.id)
    if token_id == viewer.token.id:
        # Revoking this browser's own session is signing out.
        response = RedirectResponse("/login", status_code=303)
        add_flash(request, response, Flash("info", _("You are signed out.")))
        return response
    response = RedirectResponse("/settings#tokens", status_code=303)
    if revoked:
        add_flash(request, response, Flash("success", _("Revoked. That token no longer works.")))
    else:
        add_flash(request, response, Flash("error", _("That token was already revoked.")))
    return response


@router.post("/settings/push-subscription")
async def push_subscription(
    body: PushSubscription, request: Request, session: SessionDep, viewer: ViewerDep
) -> JSONResponse:
    """Register this browser's Web Push subscription (called by app.js)."""
    if not same_token(viewer.csrf_token, request.headers.get(CSRF_HEADER)):
        raise Forbidden("The CSRF token is missing or wrong; reload the page and try again.")
    settings = app_settings(request)
    if settings.vapid_private_key is None:
        raise NotFound("Web Push is not configured on this server.")
    # The same model and rules as POST /api/v3/devices: https to a public host, a real
    # P-256 key.
    device = await register_web_push(
        session,
        viewer.user.id,
        body,
        allow_private=settings.allow_private_targets,
        field="endpoint",
    )
    log.info("web.push.subscribed", extra={"user_id": viewer.user.id, "device_id": device.id})
    return JSONResponse({"id": device.id}, status_code=201)


@router.post("/settings/calendar-feed")
async def create_calendar_feed(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """A new secret feed address (the old one stops working), shown once in the flash."""
    await read_form(request, viewer)
    secret = await availability.new_feed_secret(session, viewer.user.id, now)
    url = availability.feed_url(app_settings(request).base_url, secret)
    webcal = "webcal://" + url.split("://", 1)[1]
    response = RedirectResponse("/settings#calendar-feed", status_code=303)
    text = _(
        "Your calendar feed is ready; any older address no longer works. Subscribe with the "
        "link, or paste %(url)s into your calendar app. It is shown only this once:",
        url=url,
    )
    add_flash(request, response, Flash("success", text, href=webcal, link_text=webcal))
    return response


@router.post("/settings/calendar-feed/revoke")
async def revoke_calendar_feed(
    request: Request, session: SessionDep, viewer: ViewerDep
) -> Response:
    await read_form(request, viewer)
    await availability.revoke_feed(session, viewer.user.id)
    response = RedirectResponse("/settings#calendar-feed", status_code=303)
    text = _("Revoked. Your calendar feed address no longer works.")
    add_flash(request, response, Flash("success", text))
    return response


async def linked_calendar_view(
    session: AsyncSession, user_id: int, zone: zoneinfo.ZoneInfo
) -> dict[str, str] | None:
    """The settings page's view of the linked calendar: where, who, and how it went."""
    link = await linked_calendars.get_link(session, user_id)
    if link is None:
        return None
    outcome = linked_calendars.last_outcome(user_id)
    if outcome is None:
        status = _("Not read since the server started.")
    elif outcome[1] is None:
        status = _("Read without problems (%(when)s).", when=format_instant(outcome[0], zone))
    else:
        when = format_instant(outcome[0], zone)
        status = _("Could not be read (%(when)s): %(reason)s.", when=when, reason=outcome[1])
    return {
        "url": link.url,
        "username": link.username,
        "linked": format_instant(link.created_at, zone),
        "status": status,
        "failing": "yes" if outcome and outcome[1] else "",
    }


@router.post("/settings/calendar")
async def link_calendar(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """Link a CalDAV calendar: read once first; a refusal says the server's reason."""
    form = await read_form(request, viewer)
    response = RedirectResponse("/settings#linked-calendar", status_code=303)
    fields = {name: form.get(name) or "" for name in ("url", "username", "password")}
    settings = app_settings(request)
    try:
        body = validate_body(LinkedCalendarIn, fields)
        # End the transaction that loaded the viewer (it wrote nothing): on SQLite it
        # holds the one write lock, which must not wait for the calendar server.
        await session.commit()
        account = await linked_calendars.read_new_calendar(body, settings, now)
        await linked_calendars.link_calendar(session, viewer.user, account, settings, now)
    except ApiError as error:
        add_flash(request, response, Flash("error", error.message))
        return response
    add_flash(request, response, Flash("success", _("Linked your calendar.")))
    return response


@router.post("/settings/calendar/unlink")
async def unlink_calendar(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    await read_form(request, viewer)
    await linked_calendars.unlink_calendar(session, viewer.user.id)
    response = RedirectResponse("/settings#linked-calendar", status_code=303)
    add_flash(request, response, Flash("success", _("Unlinked your calendar.")))
    return response


DAY_NAMES = {
    "mon": N_("Monday"),
    "tue": N_("Tuesday"),
    "wed": N_("Wednesday"),
    "thu": N_("Thursday"),
    "fri": N_("Friday"),
    "sat": N_("Saturday"),
    "sun": N_("Sunday"),
}


def working_hours_rows(user: Any, values: dict[str, str] | None) -> list[dict[str, str]]:
    """One row per weekday for the form: "09:00-12:00, 13:00-17:00", or what was typed."""
    week = availability.working_hours_of(user)
    typed = values or {}
    return [
        {
            "key": day,
            "name": _(name),
            "value": typed[f"hours_{day}"]
            if f"hours_{day}" in typed
            else ", ".join(f"{start}-{end}" for start, end in week.get(day, [])),
        }
        for day, name in DAY_NAMES.items()
    ]


def _intervals(text: str) -> list[list[str]]:
    """ "09:00-12:00, 13:00-17:00" as pairs (checked by the API's rules afterwards)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    return [[piece.strip() for piece in part.split("-", 1)] for part in parts]


@router.post("/settings/working-hours")
async def save_working_hours(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    hours = {f"hours_{day}": form.get(f"hours_{day}", "").strip()[:200] for day in DAY_NAMES}
    user = viewer.user
    values = {**_profile_values(user), **hours}
    try:
        week = validate_body(Week, {day: _intervals(values[f"hours_{day}"]) for day in DAY_NAMES})
    except BadRequest as error:
        errors = {
            f"hours_{detail['field']}": f"{_(DAY_NAMES[detail['field']])}: {detail['message']}."
            for detail in error.details or []
            if detail["field"] in DAY_NAMES
        }
        return await _settings_page(
            request, session, viewer, now, values=values, errors=errors, status_code=400
        )
    await availability.set_working_hours(session, viewer.user, week)
    response = RedirectResponse("/settings#working-hours", status_code=303)
    add_flash(request, response, Flash("success", _("Saved your working hours.")))
    return response


REMINDER_FIELDS = ("reminder_1", "reminder_2", "reminder_3")


def reminder_rows(user: Any, values: dict[str, str] | None) -> list[str]:
    """The three reminder boxes: what was typed, else the user's minutes, else empty."""
    typed = values or {}
    if any(field in typed for field in REMINDER_FIELDS):
        return [typed.get(field, "") for field in REMINDER_FIELDS]
    minutes = [str(m) for m in reminder_minutes_of(user)]
    return [*minutes, "", "", ""][: len(REMINDER_FIELDS)]


@router.post("/settings/reminders")
async def save_reminders(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """Reminder minutes through the same rule as PATCH /api/v3/me (empty boxes: none)."""
    form = await read_form(request, viewer)
    boxes = {field: form.get(field, "").strip()[:20] for field in REMINDER_FIELDS}
    user = viewer.user
    values = {"name": user.name, "timezone": user.timezone or "", **boxes}
    typed = [text for text in boxes.values() if text]
    # Whole numbers as numbers; anything else is passed on for the rule to refuse.
    minutes: list[Any] = [int(t) if t.isascii() and t.isdigit() else t for t in typed]
    try:
        patch = validate_body(ProfilePatch, {"reminder_minutes": minutes})
    except BadRequest as error:
        problem = next((d["message"] for d in error.details or []), error.message)
        return await _settings_page(
            request,
            session,
            viewer,
            now,
            values=values,
            errors={"reminders": _("Reminders: %(problem)s.", problem=problem)},
            status_code=400,
        )
    await update_profile(session, user, patch, now)
    saved = reminder_minutes_of(user)
    leads = ", ".join(lead_time(m) for m in sorted(saved, reverse=True))
    text = (
        _("Saved. You will be reminded %(leads)s before each meeting.", leads=leads)
        if saved
        else _("Saved. You will get no reminders.")
    )
    response = RedirectResponse("/settings#reminders", status_code=303)
    add_flash(request, response, Flash("success", text))
    return response
