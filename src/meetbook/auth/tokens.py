"""Opaque credentials: random, shown once, stored only as a SHA-256 digest.

Two kinds share the table: API bearer tokens (`KIND_API`) and web sessions
(`KIND_SESSION`, see auth/sessions.py). A lookup names the kind it accepts, so a
session's cookie value is never an API token and an API token never a session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from meetbook.auth.tokencache import TokenCache
from meetbook.db import is_read_only_session, open_session
from meetbook.models import ApiToken, User, utcnow
from meetbook.models.base import UTCDateTime

TOKEN_PREFIX = "mb_"
MAX_TOKEN_LENGTH = 200
LAST_USED_EVERY = timedelta(minutes=5)
KIND_API = "api"
KIND_SESSION = "session"
# CONTRACT §1.8: a web session ends after 14 days without use, and 30 days after sign-in.
SESSION_IDLE = timedelta(days=14)
SESSION_LIFETIME = timedelta(days=30)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(
    session: AsyncSession,
    user_id: int,
    name: str,
    *,
    expires_at: datetime | None = None,
    user_agent: str | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; the plain value is returned here and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=name,
        token_hash=hash_token(token),
        expires_at=expires_at,
        user_agent="".join(c for c in user_agent if c.isprintable())[:200] or None
        if user_agent
        else None,
    )
    session.add(row)
    await session.flush()
    return token, row


async def active_tokens(session: AsyncSession, user_id: int, now: datetime) -> list[ApiToken]:
    """A user's API tokens and sessions that still work at `now`, newest first."""
    rows = await session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == user_id, still_valid(now))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return list(rows)


def still_valid(now: datetime) -> ColumnElement[bool]:
    """The credentials that work at `now`: not revoked, not expired, sessions not idle."""
    return _valid(now, now - SESSION_IDLE)


def _valid(now: Any, idle_since: Any) -> ColumnElement[bool]:
    return and_(
        ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        or_(
            ApiToken.kind != KIND_SESSION,
            func.coalesce(ApiToken.last_used_at, ApiToken.created_at) > idle_since,
        ),
    )


# Built once, with parameters: building it per request cost more CPU than running it (a
# py-spy profile of GET /api/v3/me put ~15% of the request in making this expression).
_LOOKUP = (
    select(ApiToken, User)
    .join(User, User.id == ApiToken.user_id)
    .where(
        ApiToken.token_hash == bindparam("digest"),
        ApiToken.kind == bindparam("kind"),
        _valid(bindparam("now", type_=UTCDateTime), bindparam("idle_since", type_=UTCDateTime)),
        # Deactivating revokes every credential; this holds even if one was missed.
        User.deactivated_at.is_(None),
    )
)


async def user_for_token(
    session: AsyncSession, token: str, *, kind: str = KIND_API, now: datetime | None = None
) -> tuple[User, ApiToken] | None:
    """The user and credential of `token`, if it is a valid credential of `kind` at `now`
    (reads only; `lookup_token` also records the use)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    now = now or utcnow()
    digest = hash_token(token)
    params = {"digest": digest, "kind": kind, "now": now, "idle_since": now - SESSION_IDLE}
    row = (await session.execute(_LOOKUP, params)).first()
    if row is None:
        return None
    api_token, user = row
    # The lookup is by digest; compare again in constant time as defence in depth.
    if not hmac.compare_digest(api_token.token_hash, digest):
        return None
    return user, api_token


async def lookup_token(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    token: str,
    *,
    kind: str = KIND_API,
    now: datetime | None = None,
    cache: TokenCache | None = None,
) -> tuple[User, ApiToken] | None:
    """`user_for_token` for a request whose own session is `session`.

    API tokens are first looked for in `cache` (auth/tokencache.py: a hit makes no query).

    A write request may wait for its body after this: its lookup runs in a short
    read-only session of its own, so nothing (no connection, no transaction, on SQLite
    no write lock) is held meanwhile, and the rows then join `session` so the route can
    change the user. A read-only request reads no body and takes no lock, so its
    lookup is simply its session's first statement.
    """
    now = now or utcnow()
    if cache is None or not cache.enabled or kind != KIND_API:
        cache = None
    digest = hash_token(token) if cache is not None else ""
    found = cache.get(digest, now) if cache is not None else None
    if found is not None:
        session.add_all(found)
    else:
        generation = cache.generation if cache is not None else 0
        if is_read_only_session(session):
            found = await user_for_token(session, token, kind=kind, now=now)
        else:
            async with open_session(sessionmaker, read_only=True) as lookup:
                found = await user_for_token(lookup, token, kind=kind, now=now)
            if found is not None:
                session.add_all(found)
        if found is None:
            return None
        if cache is not None:
            cache.put(digest, *found, generation=generation)
    if await _note_use(sessionmaker, session, found[1], now) and cache is not None:
        cache.note_use(digest, now)
    return found


# The read-only request's write of `last_used_at`: a Core UPDATE on a connection of its
# own, built once. No session (its events, its identity map, the ORM UPDATE's planning)
# for a column no cached lookup depends on (auth/tokencache.py).
_NOTE_USE = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("used_at", type_=UTCDateTime))
)


async def _note_use(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api_token: ApiToken,
    now: datetime,
) -> bool:
    """Record when a token was last used, at most every few minutes; True if it did.

    Writing on every request would turn each read into a write (and, on SQLite, contend
    for the one write lock) for a figure people only read to the nearest day (and a
    session's 14-day idle limit does not need more). A write request's session writes it
    with the route's own changes; a read-only one must not write, so the update then has
    a short transaction of its own.
    """
    if api_token.last_used_at is not None and now - api_token.last_used_at < LAST_USED_EVERY:
        return False
    if not is_read_only_session(session):
        api_token.last_used_at = now  # flushed when the route's session commits
        return True
    # End the read transaction first: its pooled connection is returned before the writer
    # takes one, so a burst of such requests cannot each hold one connection while
    # waiting for a second (that emptied the pool: every request then waited 30 s).
    await session.commit()
    engine: AsyncEngine = sessionmaker.kw["bind"]
    async with engine.begin() as writer:
        await writer.execute(_NOTE_USE, {"token_id": api_token.id, "used_at": now})
    # As loaded: the row already says so, and the read-only session must not write it.
    set_committed_value(api_token, "last_used_at", now)
    return True


async def revoke_token(session: AsyncSession, token_id: int, user_id: int) -> bool:
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
