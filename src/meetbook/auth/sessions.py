"""Web sessions: a credential of their own kind, which the API refuses.

The browser's cookie holds a random secret (only its SHA-256 is stored, like an API
token's). A session ends when signed out or revoked, after `SESSION_IDLE` without use
and `SESSION_LIFETIME` after sign-in, checked on every request. Ended sessions are
deleted when their user signs in again, at most `PRUNE_BATCH` at a time so a sign-in
never turns into a long write.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, not_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.auth.tokens import (
    KIND_SESSION,
    SESSION_LIFETIME,
    hash_token,
    lookup_token,
    still_valid,
)
from meetbook.models import ApiToken, User

SESSION_PREFIX = "mbs_"
SESSION_NAME = "web session"
PRUNE_BATCH = 100
MAX_USER_AGENT = 200
MAX_ADDRESS = 45


async def issue_session(
    session: AsyncSession,
    user_id: int,
    *,
    now: datetime,
    user_agent: str | None,
    ip_address: str | None,
) -> tuple[str, ApiToken]:
    """Start a session for a user who just signed in; returns the cookie's secret."""
    await prune_sessions(session, user_id, now)
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=SESSION_NAME,
        kind=KIND_SESSION,
        token_hash=hash_token(secret),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
        user_agent=_printable(user_agent, MAX_USER_AGENT),
        ip_address=_printable(ip_address, MAX_ADDRESS),
    )
    session.add(row)
    await session.flush()
    return secret, row


async def session_user(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    secret: str | None,
    *,
    now: datetime,
) -> tuple[User, ApiToken] | None:
    """The user and session of a cookie's secret, while the session is valid at `now`.

    Looked up like an API token (`lookup_token`): in a short transaction of its own, so
    none is held while a form is still arriving.
    """
    if not secret:
        return None
    return await lookup_token(sessionmaker, session, secret, kind=KIND_SESSION, now=now)


async def prune_sessions(session: AsyncSession, user_id: int, now: datetime) -> int:
    """Delete up to PRUNE_BATCH of the user's ended sessions; returns how many."""
    ended = (
        select(ApiToken.id)
        .where(ApiToken.user_id == user_id, ApiToken.kind == KIND_SESSION, not_(still_valid(now)))
        .limit(PRUNE_BATCH)
    )
    ids = list(await session.scalars(ended))
    if not ids:
        return 0
    await session.execute(delete(ApiToken).where(ApiToken.id.in_(ids)))
    return len(ids)


def _printable(text: str | None, limit: int) -> str | None:
    """`text` without control characters, cut to `limit`; None when nothing is left."""
    if text is None:
        return None
    kept = "".join(c for c in text if c.isprintable())[:limit].strip()
    return kept or None


# (marker in the User-Agent, name), most specific first: Edge and Opera also say Chrome,
# Chrome also says Safari.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_browser(user_agent: str | None) -> str:
    """ "Firefox on Linux" from a User-Agent, so people can tell their sessions apart."""
    if not user_agent:
        return "Unknown browser"
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    # An unknown browser is shown as it names itself.
    return browser or user_agent[:80]
