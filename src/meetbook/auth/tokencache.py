"""A short in-process cache of bearer-token lookups (API tokens only, not web sessions).

A hit saves the lookup's query and, for a write request, the short transaction it runs
in (`auth/tokens.py::lookup_token`). What it holds, per token digest, is the token's
and its user's column values as the database returned them; every hit builds fresh
detached rows from them, so no two requests ever share an ORM object.

How stale a hit can be (the bound, `MEETBOOK_TOKEN_CACHE_SECONDS`, default 5):

- **In this process, never.** A session that commits a change to a user or to a
  credential (a revocation, a profile change; any ORM flush or ORM `UPDATE`/`DELETE`
  of `User` or `ApiToken`) empties the cache after its commit (`watch`), and a lookup
  that began before that commit does not store what it read (`generation`).
- **Through another process** (a second API process, the CLI, SQL by hand), for at
  most `ttl` seconds after the change committed: a revoked token keeps working on the
  other API processes until their entry, stored at most `ttl` seconds earlier, expires.
- Expiry dates are checked on every hit against the request's clock, as the query does.

`last_used_at` alone changing does not empty the cache (it is written every few
minutes per token, `auth/tokens.py`), and unknown tokens are never cached, so a new
token works at once everywhere.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from meetbook.models import ApiToken, User

DEFAULT_TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
# Attributes whose change alone leaves cached lookups valid.
_BOOKKEEPING = frozenset({"last_used_at"})

Row = TypeVar("Row", User, ApiToken)


@dataclass
class _Entry:
    user: dict[str, Any]
    token: dict[str, Any]
    stored_at: float


def _values(row: User | ApiToken) -> dict[str, Any]:
    return {attr.key: getattr(row, attr.key) for attr in row.__mapper__.column_attrs}


def _detached(model: type[Row], values: dict[str, Any]) -> Row:
    """A new detached `model` row holding `values`, as if just loaded (no pending change)."""
    # Only JSON values (dicts, lists) can be changed in place; the rest (strings, numbers,
    # datetimes) are shared as they are: a deepcopy of every value cost ~0.1 ms per hit.
    row = model(
        **{
            key: copy.deepcopy(value) if isinstance(value, dict | list) else value
            for key, value in values.items()
        }
    )
    make_transient_to_detached(row)
    return row


class TokenCache:
    """Token digest → the token's and its user's columns, for `ttl` seconds."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        *,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        # Bumped by every invalidation; a lookup stores only if it did not move meanwhile.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def get(self, digest: str, now: datetime) -> tuple[User, ApiToken] | None:
        """Fresh detached rows for `digest` if cached, unexpired and still valid at `now`."""
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return None
        token = entry.token
        expires_at = token["expires_at"]
        if (
            self._monotonic() - entry.stored_at >= self.ttl
            or token["revoked_at"] is not None
            or (expires_at is not None and expires_at <= now)
        ):
            del self._entries[digest]
            self.misses += 1
            return None
        self.hits += 1
        return _detached(User, entry.user), _detached(ApiToken, entry.token)

    def put(self, digest: str, user: User, token: ApiToken, *, generation: int) -> None:
        """Remember a lookup that started when `self.generation` was `generation`."""
        if not self.enabled or generation != self.generation:
            return  # an invalidation happened while it ran: what it read may be stale
        if len(self._entries) >= self.max_entries:
            # Oldest first (insertion order): drop the expired, or else the oldest.
            cutoff = self._monotonic() - self.ttl
            stale = [d for d, e in self._entries.items() if e.stored_at <= cutoff]
            for old in stale or list(self._entries)[: max(1, self.max_entries // 10)]:
                del self._entries[old]
        self._entries[digest] = _Entry(_values(user), _values(token), self._monotonic())

    def note_use(self, digest: str, last_used_at: datetime) -> None:
        """The token's `last_used_at` was written: keep the entry in step."""
        entry = self._entries.get(digest)
        if entry is not None:
            entry.token["last_used_at"] = last_used_at

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def watch(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Empty the cache after any commit of `sessionmaker`'s sessions that changed a
        user or a credential (module docstring)."""
        session_class = sessionmaker.kw["sync_session_class"]
        changed = f"meetbook.auth_changed.{id(self)}"  # Session.info key, one per cache

        def after_flush(session: Session, _context: Any) -> None:
            if _flushed_auth_changes(session):
                session.info[changed] = True

        def do_orm_execute(state: ORMExecuteState) -> None:
            if _is_auth_change(state):
                state.session.info[changed] = True

        def after_commit(session: Session) -> None:
            if session.info.pop(changed, False):
                self.clear()

        def after_rollback(session: Session) -> None:
            session.info.pop(changed, None)

        event.listen(session_class, "after_flush", after_flush)
        event.listen(session_class, "do_orm_execute", do_orm_execute)
        event.listen(session_class, "after_commit", after_commit)
        event.listen(session_class, "after_rollback", after_rollback)


def _flushed_auth_changes(session: Session) -> bool:
    # after_flush still sees the flushed objects in `dirty` and `deleted`.
    for row in (*session.dirty, *session.deleted):
        if not isinstance(row, User | ApiToken):
            continue
        state = instance_state(row)
        if row in session.deleted or any(
            state.attrs[prop.key].history.has_changes()
            for prop in state.mapper.column_attrs
            if prop.key not in _BOOKKEEPING
        ):
            return True
    return False


def _is_auth_change(state: ORMExecuteState) -> bool:
    """An ORM UPDATE or DELETE of users or credentials (not marked KEEPS_LOOKUPS)."""
    if not (state.is_update or state.is_delete) or state.execution_options.get(KEEPS_LOOKUPS):
        return False
    return any(mapper.class_ in (User, ApiToken) for mapper in state.all_mappers)


# Execution option for an ORM UPDATE that leaves cached lookups valid (last_used_at).
KEEPS_LOOKUPS = "meetbook_keeps_token_lookups"
