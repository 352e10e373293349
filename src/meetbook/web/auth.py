"""Signing in and out of the web page."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from meetbook.accounts.service import authenticate, normalize_email
from meetbook.auth.sessions import issue_session
from meetbook.auth.tokens import revoke_token
from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.i18n import N_, _, ngettext
from meetbook.ratelimit import RateLimiter, retry_after_header
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import (
    CSRF_FIELD,
    DEFAULT_PAGE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    MaybeViewer,
    ViewerDep,
    check_login_csrf,
    clear_cookie,
    login_nonce,
    read_form,
    remember_login_nonce,
    safe_next,
    start_session,
    web_keys,
)
from meetbook.web.templating import render

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)

# Per account and address: a person mistyping; per address: someone trying many accounts.
LOGIN_RULE_ACCOUNT = "10/minute"
LOGIN_RULE_ADDRESS = "50/minute"
WRONG_CREDENTIALS = N_("The email or password is wrong.")
MAX_EMAIL_LENGTH = 254
MAX_PASSWORD_LENGTH = 1024


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    nonce, is_new = login_nonce(request)
    context = {
        "title": _("Sign in") + " · meetbook",
        "login_csrf": web_keys(request).login_csrf(nonce),
        "next_path": next_path,
        "email": email,
        "error": error,
    }
    response = render(
        request, "login.html", context, viewer=None, status_code=status_code, headers=headers
    )
    if is_new:
        remember_login_nonce(request, response, nonce)
    if SESSION_COOKIE in request.cookies:  # unknown, revoked or tampered: drop it
        clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/login")
async def login_form(request: Request, viewer: MaybeViewer, next: str = DEFAULT_PAGE) -> Response:
    """The sign-in form; a signed-in visitor goes straight on to `next`."""
    next_path = safe_next(next)
    if viewer is not None:
        return RedirectResponse(next_path, status_code=303)
    return _login_page(request, next_path=next_path)


async def _throttled(request: Request, email: str) -> float | None:
    limiter: RateLimiter = request.app.state.rate_limiter
    address = _client_address(request)
    wait = await limiter.hit(LOGIN_RULE_ADDRESS, "web-login-address", address)
    if wait is None:
        wait = await limiter.hit(LOGIN_RULE_ACCOUNT, "web-login-account", email, address)
    return wait


@router.post("/login")
async def login(request: Request, session: SessionDep, now: Now) -> Response:
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    next_path = safe_next(fields.get("next"))
    email = fields.get("email", "").strip()[:MAX_EMAIL_LENGTH]
    password = fields.get("password", "")
    if not check_login_csrf(request, fields.get(CSRF_FIELD)):
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=_("The sign-in form had expired, so nothing was sent. Please sign in again."),
            status_code=403,
        )
    wait = await _throttled(request, normalize_email(email))
    if wait is not None:
        log.warning("web.login.throttled", extra={"address": _client_address(request)})
        minutes = max(1, round(wait / 60))
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=ngettext(
                "Too many sign-in attempts. Wait a minute and try again.",
                "Too many sign-in attempts. Wait %(num)d minutes and try again.",
                minutes,
            ),
            status_code=429,
            headers={"Retry-After": retry_after_header(wait)},
        )
    if not email or not password:
        return _login_page(
            request,
            next_path=next_path,
            email=email,
            error=_("Enter your email and password."),
            status_code=400,
        )
    user = None
    if len(password) <= MAX_PASSWORD_LENGTH:
        user = await authenticate(request.app.state.sessionmaker, email, password)
    if user is None:
        log.info("web.login.failed")
        return _login_page(
            request, next_path=next_path, email=email, error=_(WRONG_CREDENTIALS), status_code=400
        )
    secret, row = await issue_session(
        session,
        user.id,
        now=now,
        user_agent=request.headers.get("user-agent"),
        ip_address=request.client.host if request.client else None,
    )
    log.info("web.login.succeeded", extra={"user_id": user.id, "token_id": row.id})
    response = RedirectResponse(next_path, status_code=303)
    start_session(request, response, secret)
    return response


@router.get("/logout")
async def logout_form(request: Request, viewer: MaybeViewer) -> Response:
    """A confirmation page: signing out is a POST, so a link cannot sign anyone out."""
    if viewer is None:
        return RedirectResponse("/login", status_code=303)
    title = _("Sign out") + " · meetbook"
    return render(request, "logout.html", {"title": title}, viewer=viewer)


@router.post("/logout")
async def logout(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    await read_form(request, viewer)
    await revoke_token(session, viewer.token.id, viewer.user.id)
    log.info("web.logout", extra={"user_id": viewer.user.id})
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    clear_cookie(request, response, LOGIN_COOKIE)
    add_flash(request, response, Flash("info", _("You are signed out.")))
    return response
