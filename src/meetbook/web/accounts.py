"""Account pages without a session: forgot password, the reset link, sign-up from an
invite (CONTRACT §3); and the password change of /settings.

Forms posted before signing in carry the sign-in form's CSRF token (a pre-session
nonce, `web/session.py`). An invite for an address that already has an account is
accepted only by that account, signed in: holding the link is not enough to add an
existing account to a team.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import links, people
from meetbook.accounts.people_endpoints import RESET_FLOOR_SECONDS, RESET_RULE, secret_key
from meetbook.auth.sessions import issue_session
from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest
from meetbook.i18n import N_, _
from meetbook.meetings.timeparse import is_valid_zone
from meetbook.models import Team, TeamInvite
from meetbook.ratelimit import RateLimiter
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import (
    CSRF_FIELD,
    MaybeViewer,
    Viewer,
    ViewerDep,
    check_login_csrf,
    login_nonce,
    read_form,
    remember_login_nonce,
    start_session,
    web_keys,
)
from meetbook.web.settings import _settings_page, _zone_groups
from meetbook.web.templating import render

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)
MAX_FIELD = 1024
EXPIRED_FORM = N_("The form had expired, so nothing was sent. Please try again.")


def _public_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    viewer: Viewer | None = None,
    status_code: int = 200,
) -> Response:
    """A page whose form is posted without a session: it carries the pre-session token."""
    nonce, is_new = login_nonce(request)
    values = {
        "login_csrf": web_keys(request).login_csrf(nonce),
        "error": None,
        "sent_to": None,
        "errors": defaultdict(str),
        "values": defaultdict(str),
        **context,
    }
    values["errors"] = defaultdict(str, values["errors"])
    values["values"] = defaultdict(str, values["values"])
    response = render(request, template, values, viewer=viewer, status_code=status_code)
    if is_new:
        remember_login_nonce(request, response, nonce)
    return response


async def _public_form(request: Request) -> dict[str, str] | None:
    """The posted fields, or None when the pre-session CSRF token is missing or wrong."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return fields if check_login_csrf(request, fields.get(CSRF_FIELD)) else None


# Forgot password ---------------------------------------------------------------------------


@router.get("/forgot-password")
async def forgot_password_form(request: Request, viewer: MaybeViewer) -> Response:
    return _public_page(
        request,
        "forgot_password.html",
        {"title": _("Forgot password") + " · meetbook"},
        viewer=viewer,
    )


@router.post("/forgot-password")
async def forgot_password(request: Request, session: SessionDep, now: Now) -> Response:
    started = time.monotonic()
    fields = await _public_form(request)
    context: dict[str, Any] = {"title": _("Forgot password") + " · meetbook"}
    if fields is None:
        return _public_page(
            request, "forgot_password.html", {**context, "error": _(EXPIRED_FORM)}, status_code=403
        )
    email = fields.get("email", "").strip()[:254]
    if not email:
        context["error"] = _("Enter your email address.")
        return _public_page(request, "forgot_password.html", context, status_code=400)
    limiter: RateLimiter = request.app.state.rate_limiter
    address = request.client.host if request.client else "unknown"
    if await limiter.hit(RESET_RULE, "password-reset-address", address) is None:
        await links.request_reset(session, email, now)
    # The same answer, after the same time, whether or not the address has an account.
    await asyncio.sleep(max(0.0, RESET_FLOOR_SECONDS - (time.monotonic() - started)))
    context["sent_to"] = email
    return _public_page(request, "forgot_password.html", context)


@router.get("/password-reset/{token}")
async def reset_form(
    request: Request, token: str, session: SessionDep, viewer: MaybeViewer, now: Now
) -> Response:
    try:
        await links.open_reset(session, secret_key(request), token, now)
    except ApiError as error:
        return _link_problem(request, error, viewer, retry="/forgot-password")
    context = {"title": _("Choose a new password") + " · meetbook", "token": token}
    return _public_page(request, "reset_password.html", context, viewer=viewer)


@router.post("/password-reset/{token}")
async def reset(request: Request, token: str, session: SessionDep, now: Now) -> Response:
    fields = await _public_form(request)
    context: dict[str, Any] = {"title": _("Choose a new password") + " · meetbook", "token": token}
    if fields is None:
        return _public_page(
            request, "reset_password.html", {**context, "error": _(EXPIRED_FORM)}, status_code=403
        )
    password = fields.get("password", "")[:MAX_FIELD]
    try:
        await links.complete_reset(session, secret_key(request), token, password, now)
    except BadRequest as error:
        context["errors"] = {"password": error.message}
        return _public_page(request, "reset_password.html", context, status_code=400)
    except ApiError as error:
        return _link_problem(request, error, None, retry="/forgot-password")
    response = RedirectResponse("/login", status_code=303)
    add_flash(
        request,
        response,
        Flash(
            "success",
            _("Your password is changed and you are signed out everywhere. Sign in."),
        ),
    )
    return response


def _link_problem(
    request: Request, error: ApiError, viewer: Viewer | None, *, retry: str
) -> Response:
    context = {
        "title": _("This link does not work") + " · meetbook",
        # The link's problems are catalog messages (accounts/links.py); others stay English.
        "message": _(error.message),
        "retry": retry,
    }
    return render(request, "link_problem.html", context, viewer=viewer, status_code=error.status)


# Sign-up from an invite --------------------------------------------------------------------


async def _invite_context(
    session: AsyncSession, invite: TeamInvite, token: str, viewer: Viewer | None
) -> dict[str, Any]:
    team = await session.get(Team, invite.team_id)
    account = await links.account_for_invite(session, invite)
    return {
        "title": _("Join %(team)s", team=team.name if team else _("a team")) + " · meetbook",
        "team_name": team.name if team else "a team",
        "invite": invite,
        "token": token,
        "has_account": account is not None,
        "signed_in_as_invitee": viewer is not None and viewer.user.email == invite.email,
        "zone_groups": _zone_groups(),
    }


@router.get("/invite/{token}")
async def invite_page(
    request: Request, token: str, session: SessionDep, viewer: MaybeViewer, now: Now
) -> Response:
    try:
        invite = await links.open_invite(session, secret_key(request), token, now)
    except ApiError as error:
        return _link_problem(request, error, viewer, retry="/login")
    context = await _invite_context(session, invite, token, viewer)
    return _public_page(request, "invite.html", context, viewer=viewer)


@router.post("/invite/{token}")
async def accept_invite(
    request: Request, token: str, session: SessionDep, viewer: MaybeViewer, now: Now
) -> Response:
    try:
        invite = await links.open_invite(session, secret_key(request), token, now)
    except ApiError as error:
        return _link_problem(request, error, viewer, retry="/login")
    if viewer is not None and viewer.user.email == invite.email:
        await read_form(request, viewer)
        try:
            await links.accept_as(session, invite, viewer.user, now)
        except ApiError as error:
            return _link_problem(request, error, viewer, retry="/teams")
        return _joined(request, invite.team_id, None)
    fields = await _public_form(request)
    context = await _invite_context(session, invite, token, viewer)
    if fields is None:
        context["error"] = _(EXPIRED_FORM)
        return _public_page(request, "invite.html", context, viewer=viewer, status_code=403)
    values = {
        "name": fields.get("name", "").strip()[:200],
        "timezone": fields.get("timezone", "").strip()[:64],
    }
    password = fields.get("password", "")[:MAX_FIELD]
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Enter your name.")
    if values["timezone"] and not is_valid_zone(values["timezone"]):
        errors["timezone"] = _("Choose a timezone from the list.")
    if not errors:
        try:
            user = await links.accept_with_new_account(
                session,
                invite,
                name=values["name"],
                timezone=values["timezone"] or None,
                password=password,
                now=now,
            )
        except BadRequest as error:
            field = (error.details or [{"field": "password"}])[0]["field"]
            errors[field if field in ("name", "password") else "password"] = error.message
        except ApiError as error:
            return _link_problem(request, error, viewer, retry="/login")
    if errors:
        context |= {"values": values, "errors": errors}
        return _public_page(request, "invite.html", context, viewer=viewer, status_code=400)
    secret, _row = await issue_session(
        session,
        user.id,
        now=now,
        user_agent=request.headers.get("user-agent"),
        ip_address=request.client.host if request.client else None,
    )
    log.info("web.signup", extra={"user_id": user.id, "team_id": invite.team_id})
    return _joined(request, invite.team_id, secret)


def _joined(request: Request, team_id: int, session_secret: str | None) -> Response:
    response = RedirectResponse(f"/teams/{team_id}", status_code=303)
    if session_secret is not None:
        start_session(request, response, session_secret)
    add_flash(request, response, Flash("success", _("Welcome! You are now a member of this team.")))
    return response


# Password change (/settings) ---------------------------------------------------------------


@router.post("/settings/password")
async def change_password(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    current = form.get("current_password", "")[:MAX_FIELD]
    new = form.get("new_password", "")[:MAX_FIELD]
    try:
        await people.change_password(
            session, viewer.user, current, new, now, keep_session=viewer.token.id
        )
    except BadRequest as error:
        field = (error.details or [{"field": "new_password"}])[0]["field"]
        return await _settings_page(
            request, session, viewer, now, errors={field: error.message}, status_code=400
        )
    response = RedirectResponse("/settings#password", status_code=303)
    add_flash(
        request,
        response,
        Flash("success", _("Password changed. Your other browsers were signed out.")),
    )
    return response
