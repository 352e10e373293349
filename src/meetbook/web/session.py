"""Browser sessions, CSRF tokens and the cookies that carry them.

The session cookie holds the random secret of a web session (auth/sessions.py): a
credential of its own kind, which the API refuses as a bearer token and which ends
server-side when idle for 14 days, 30 days after sign-in, or when signed out.

CSRF: every form carries `csrf_token`, an HMAC of the session secret under the
server's secret. Before signing in there is no session, so the login form's token is
the HMAC of a random nonce kept in a signed, short-lived pre-session cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from meetbook.auth.sessions import session_user
from meetbook.clock import request_now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.i18n import use_locale
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import ApiToken, User

SESSION_COOKIE = "meetbook_session"
LOGIN_COOKIE = "meetbook_login"
SESSION_MAX_AGE = 30 * 24 * 3600
LOGIN_MAX_AGE = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_PAGE = "/meetings"
_MAX_NEXT_LENGTH = 2000


class LoginRequired(Exception):
    """The page needs a signed-in viewer; the handler redirects to /login?next=..."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A POST without a valid CSRF token."""


class WebKeys:
    """Signers and MACs derived from the server's secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()
        self.login = URLSafeTimedSerializer(secret, salt="meetbook.web.login")
        self.flash = URLSafeTimedSerializer(secret, salt="meetbook.web.flash")

    def _mac(self, purpose: str, value: str) -> str:
        message = f"{purpose}:{value}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def session_csrf(self, session_secret: str) -> str:
        return self._mac("csrf", session_secret)

    def login_csrf(self, nonce: str) -> str:
        return self._mac("login-csrf", nonce)

    def load(self, serializer: URLSafeTimedSerializer, raw: str | None, max_age: int) -> Any:
        if not raw or len(raw) > 4096:
            return None
        try:
            return serializer.loads(raw, max_age=max_age)
        except BadSignature:  # also SignatureExpired
            return None


def web_keys(request: Request) -> WebKeys:
    keys: WebKeys = request.app.state.web_keys
    return keys


def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def same_token(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=app_settings(request).secure_cookies,
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=app_settings(request).secure_cookies
    )


def start_session(request: Request, response: Response, session_secret: str) -> None:
    """Give the browser its session cookie (and drop the pre-session one)."""
    set_cookie(request, response, SESSION_COOKIE, session_secret, SESSION_MAX_AGE)
    clear_cookie(request, response, LOGIN_COOKIE)


def login_nonce(request: Request) -> tuple[str, bool]:
    """The pre-session nonce from the cookie, or a new one (True: set the cookie)."""
    keys = web_keys(request)
    nonce = keys.load(keys.login, request.cookies.get(LOGIN_COOKIE), LOGIN_MAX_AGE)
    if isinstance(nonce, str):
        return nonce, False
    return secrets.token_urlsafe(24), True


def remember_login_nonce(request: Request, response: Response, nonce: str) -> None:
    set_cookie(request, response, LOGIN_COOKIE, web_keys(request).login.dumps(nonce), LOGIN_MAX_AGE)


def check_login_csrf(request: Request, given: object) -> bool:
    keys = web_keys(request)
    nonce = keys.load(keys.login, request.cookies.get(LOGIN_COOKIE), LOGIN_MAX_AGE)
    return isinstance(nonce, str) and same_token(keys.login_csrf(nonce), given)


def safe_next(value: object, default: str = DEFAULT_PAGE) -> str:
    """`value` if it is a path on this site, else `default` (no open redirects).

    Only `/path?query` passes: not `//host`, not `/\\host` (browsers read a backslash
    as a slash), not a scheme, and nothing with control characters or spaces.
    """
    if not isinstance(value, str) or not value or len(value) > _MAX_NEXT_LENGTH:
        return default
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def request_target(request: Request) -> str:
    """The path and query of this request, as a `next` value."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Viewer:
    """The signed-in person looking at the page."""

    user: User
    token: ApiToken
    csrf_token: str
    zone: ZoneInfo

    @property
    def zone_name(self) -> str:
        return self.zone.key


async def optional_viewer(request: Request, session: SessionDep) -> Viewer | None:
    secret = request.cookies.get(SESSION_COOKIE)
    found = await session_user(
        request.app.state.sessionmaker, session, secret, now=await request_now(request)
    )
    if found is None or secret is None:
        return None
    user, row = found
    request.state.user_id = user.id
    use_locale(user.locale)  # the page speaks the viewer's language, not the browser's
    csrf_token = web_keys(request).session_csrf(secret)
    return Viewer(user=user, token=row, csrf_token=csrf_token, zone=resolve_zone(user.timezone))


async def require_viewer(
    request: Request, viewer: Annotated[Viewer | None, Depends(optional_viewer)]
) -> Viewer:
    if viewer is None:
        target = request_target(request) if request.method == "GET" else DEFAULT_PAGE
        raise LoginRequired(safe_next(target))
    return viewer


MaybeViewer = Annotated[Viewer | None, Depends(optional_viewer)]
ViewerDep = Annotated[Viewer, Depends(require_viewer)]


async def read_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The POSTed form's text fields, after checking its CSRF token."""
    form = await request.form()
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not same_token(viewer.csrf_token, fields.get(CSRF_FIELD)):
        raise CsrfRefused()
    return fields
