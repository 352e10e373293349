"""Database engine and sessions.

One session per request: the dependency commits when the route returns and rolls back
when it raises, so a state change and its outbox rows land together or not at all.
Services only `flush()`.

Read and write transactions
---------------------------
A session is a *write* session unless it was made with `read_only=True`
(`open_session(sessionmaker, read_only=True)`); the request's session is read-only for
GET, HEAD and OPTIONS. A session's transaction starts lazily, at its first statement, so
a request that has not touched the database yet holds no transaction and no pooled
connection (on PostgreSQL too) while its body is still arriving. The bearer-token lookup
runs in a short session of its own for the same reason (`auth/deps.py`).

On SQLite, where only one connection may write at a time:

- a write transaction is `BEGIN IMMEDIATE`, so every check-then-write (the overlap
  check before a confirm, the guarded status change) is one serialized unit: this is how
  double booking is prevented on SQLite (PostgreSQL has its exclusion constraint);
- before `BEGIN IMMEDIATE`, the connection waits its turn on an asyncio lock shared by
  every engine of this process on the same database file. Writers therefore queue on
  the event loop instead of sleeping in SQLite's busy handler (which backs off for up to
  100 ms per retry while the lock may long be free), and a slow reader never delays them.
  The lock is taken in the engine's `begin` event and released once COMMIT or ROLLBACK
  has run, so every user of `create_engine` is serialized without knowing it: request
  sessions, the notification worker's `sessionmaker()` + `session.begin()`, the CLI,
  and the bench's ceiling app (`engine.begin()`). `busy_timeout` stays as the fallback
  between processes (`serve --workers N`, a standalone worker, the CLI);
- a read transaction is a plain deferred `BEGIN`: it takes no lock, and WAL lets it read
  its snapshot while a writer works. A read session must not write: on SQLite the write
  would have to upgrade the snapshot, which can wait in the busy handler or fail. A
  read-only request that must write (the throttled `last_used_at` of a token) does so in
  a short write session of its own.

On PostgreSQL a read session runs in autocommit mode: no `BEGIN` and no `COMMIT`, two
round trips fewer per read request (a read's whole cost is a few round trips). Nothing
is lost: under READ COMMITTED each statement took a snapshot of its own anyway, and a
read session does not write (a GET's session never does: on SQLite that would fail).

A write session must not open a second write session on the same database in the same
task (the second would wait for the first forever); waiting on the lock is bounded by
the busy timeout and then answers 503 like a locked database.

Checking PostgreSQL connections
-------------------------------
SQLAlchemy's `pool_pre_ping` costs three round trips per checkout on asyncpg (`BEGIN`,
`;`, `ROLLBACK`), on every request. Instead (`_checkout_check`):

- a connection asyncpg already knows to be closed (the server restarted or ended it:
  the socket's end is read by the event loop as it arrives) is thrown away and the
  pool retries with another or a new one (the pool retries a checkout refused with
  `DisconnectionError`); no round trip. This is the test SQLAlchemy itself applies to
  decide that an error was a disconnect (`is_disconnect` on asyncpg);
- a connection that sat unused for more than `IDLE_PING_SECONDS` gets one `SELECT 1` (one
  round trip, simple protocol, no transaction): a connection dropped silently by a
  firewall or a hung host is found before a request uses it;
- connections older than `POOL_RECYCLE_SECONDS` are replaced (`pool_recycle`), and the
  pool is LIFO, so under light load the few connections in use stay warm while the rest
  age out instead of each waiting its turn to go stale.

A disconnect on a connection that passed the check (it died between the check and the
statement) still answers 503, and SQLAlchemy then invalidates every pooled connection
opened before it, so the next requests connect afresh. `MEETBOOK_DB_PRE_PING=true`
restores SQLAlchemy's pre-ping.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from meetbook.config import Settings

if TYPE_CHECKING:
    from meetbook.notifications.wakeup import WorkerWakeUp

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Each pooled SQLite connection keeps its own page cache (SQLite's default: 2 MiB), and in
# WAL mode a connection drops its cache whenever another one has committed, so a busy
# service gains little from a big one. 512 KiB each: up to 15 connections of one process
# stay within ~8 MiB (measured: 8 readers of the 100k-meeting bench data, RSS +16.8 MB
# with the default, +8.4 MB with this; CPU per read unchanged within the noise).
SQLITE_CACHE_KIB = 512
# Execution option marking a connection's transactions as read-only (see the docstring).
READ_ONLY_OPTION = "meetbook_read_only"
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# connection.info key: this connection holds its process's SQLite write lock.
_HOLDS_WRITE_LOCK = "meetbook.holds_write_lock"
# The first six letters of the statements that write (REPLACE is REPLAC).
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLAC")
# PostgreSQL pool: see "Checking PostgreSQL connections" in the docstring.
IDLE_PING_SECONDS = 10.0
POOL_RECYCLE_SECONDS = 1800
# connection record info key: when the connection last went back to the pool.
_CHECKED_IN_AT = "meetbook.checked_in_at"


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """Make the engine for the configured database, with the per-backend tuning it needs."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **overrides,
        )
        _configure_sqlite(engine, _database_key(settings.database_url))
        return engine
    options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": settings.db_timeout,
        "pool_pre_ping": settings.db_pre_ping,
        "pool_recycle": POOL_RECYCLE_SECONDS,
        "pool_use_lifo": True,
        "connect_args": {
            "timeout": settings.db_timeout,
            "command_timeout": settings.db_timeout * 3,
            "server_settings": {"application_name": "meetbook"},
        },
    }
    options.update(overrides)
    engine = create_async_engine(settings.database_url, **options)
    if not options["pool_pre_ping"]:
        event.listen(engine.sync_engine.pool, "checkout", _checkout_check(settings.db_timeout))
        event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    return engine


def _checkout_check(ping_timeout: float) -> Callable[[Any, Any, Any], None]:
    """The pool's checkout listener (docstring: "Checking PostgreSQL connections")."""

    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # Raising DisconnectionError makes the pool drop this one and try again.
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the connection was closed by the server")
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.run_async(lambda conn: conn.execute("SELECT 1", timeout=ping_timeout))
        except Exception as error:
            raise exc.DisconnectionError(f"the connection failed its ping: {error}") from error

    return check


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN_AT] = time.monotonic()


def _database_key(url: str) -> str:
    database = make_url(url).database or ":memory:"
    return database if database == ":memory:" else str(Path(database).resolve())


# One write lock per event loop and SQLite file: asyncio locks belong to one loop, and
# two engines of one process on the same file (the app's, a test's) must queue together.
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _write_lock(database: str) -> asyncio.Lock:
    """The lock this process's writers to `database` take before `BEGIN IMMEDIATE`."""
    locks = _write_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(database, asyncio.Lock())


def _configure_sqlite(engine: AsyncEngine, database: str) -> None:
    """WAL, foreign keys, and the transaction discipline described in the module docstring.

    pysqlite's own transaction handling defers BEGIN until the first write, so two
    transactions could both read "the slot is free" and then both write; we emit BEGIN
    ourselves instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        write_lock = _write_lock(database)
        # run_async awaits inside SQLAlchemy's greenlet: this task waits on the event
        # loop, other tasks keep running.
        connection.connection.dbapi_connection.run_async(  # type: ignore[union-attr]
            lambda _driver: _acquire(write_lock)
        )
        connection.info[_HOLDS_WRITE_LOCK] = write_lock
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection.info)
            raise

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_execute(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if (
            connection.get_execution_options().get(READ_ONLY_OPTION)
            and statement.lstrip()[:6].upper() in _WRITE_VERBS
        ):
            raise RuntimeError(f"write in a read-only session: {statement[:80]}")

    # These events fire before SQLAlchemy asks the driver to commit or roll back. Running
    # the statement here (the driver's own commit() then finds no transaction and does
    # nothing) lets the lock go only once the database has let go of its own, so the
    # next writer's BEGIN IMMEDIATE never meets a lock still held.
    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(connection: Connection) -> None:
        if _HOLDS_WRITE_LOCK in connection.info:
            connection.exec_driver_sql("COMMIT")
            _release(connection.info)

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(connection: Connection) -> None:
        if _HOLDS_WRITE_LOCK in connection.info:
            try:
                # A connection that is already broken rolls back by closing.
                with suppress(Exception):
                    connection.exec_driver_sql("ROLLBACK")
            finally:
                _release(connection.info)

    # Last resort: a connection going back to the pool or away never keeps the lock.
    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _release(record.info)

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _error: Any) -> None:
        _release(record.info)


async def _acquire(write_lock: asyncio.Lock) -> None:
    # asyncio.timeout, not wait_for: on Python 3.11, wait_for could lose an acquire that
    # completed as it timed out or was cancelled, and the lock would stay taken forever.
    async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
        await write_lock.acquire()


def _release(info: dict[Any, Any]) -> None:
    write_lock = info.pop(_HOLDS_WRITE_LOCK, None)
    if write_lock is not None and write_lock.locked():
        write_lock.release()


def create_sessionmaker(
    engine: AsyncEngine, *, on_outbox_commit: Callable[[], None] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`; `on_outbox_commit` runs after a commit that wrote notifications."""

    from meetbook.notifications.outbox import OUTBOX_WRITTEN
    from meetbook.notifications.wakeup import WorkerWakeUp

    class AppSession(Session):
        """A Session class of this sessionmaker's own, so its event hooks stay local to it."""

    # PostgreSQL: NOTIFY the workers of every process after the commit (wakeup.py).
    wake_up = WorkerWakeUp(engine) if engine.dialect.name == "postgresql" else None

    @event.listens_for(AppSession, "after_commit")
    def _wake_workers(session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN, False):
            if wake_up is not None:
                wake_up.request()
            if on_outbox_commit is not None:
                on_outbox_commit()

    @event.listens_for(AppSession, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("meetbook.outbox_written", None)

    AppSession.worker_wake_up = wake_up  # type: ignore[attr-defined]
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=AppSession
    )


def worker_wake_up(sessionmaker: async_sessionmaker[AsyncSession]) -> WorkerWakeUp | None:
    """The after-commit NOTIFY sender of `sessionmaker` (PostgreSQL), or None."""
    return getattr(sessionmaker.kw["sync_session_class"], "worker_wake_up", None)


async def settle(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Let the wake-up NOTIFY under way finish and close its connection (at shutdown)."""
    wake_up = worker_wake_up(sessionmaker)
    if wake_up is not None:
        await wake_up.aclose()


# session.info key of the lookups kept for the session's current transaction.
_TRANSACTION_CACHE = "meetbook.transaction_cache"


def transaction_cache(session: AsyncSession, name: str) -> dict[Any, Any]:
    """A dict named `name` that lives until the session's current transaction ends.

    For rows one change reads several times and does not write (a participant's push
    devices, the team's webhooks: a create or a confirm enqueues several notices to the
    same people). Emptied when the session's transaction ends (commit, rollback, close),
    so nothing read in one transaction is trusted in the next.
    """
    caches: dict[str, dict[Any, Any]] = session.info.setdefault(_TRANSACTION_CACHE, {})
    return caches.setdefault(name, {})


@event.listens_for(Session, "after_transaction_end")
def _forget_transaction_cache(session: Session, transaction: SessionTransaction) -> None:
    # Every flush opens and ends a subtransaction of its own: only the outermost counts.
    if transaction.parent is None:
        session.info.pop(_TRANSACTION_CACHE, None)


# AsyncEngine.execution_options() makes a new proxy each call; one per engine suffices.
_read_only_binds: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()


def open_session(
    sessionmaker: async_sessionmaker[AsyncSession], *, read_only: bool = False
) -> AsyncSession:
    """A new session of `sessionmaker`; `read_only` ones take no write lock (docstring)."""
    if not read_only:
        return sessionmaker()
    engine: AsyncEngine = sessionmaker.kw["bind"]
    bind = _read_only_binds.get(engine.sync_engine)
    if bind is None:
        options: dict[str, Any] = {READ_ONLY_OPTION: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"  # "Read sessions" in the docstring
        bind = engine.execution_options(**options)
        _read_only_binds[engine.sync_engine] = bind
    return sessionmaker(bind=bind)


def is_read_only_session(session: AsyncSession) -> bool:
    """Whether `session` was opened with `read_only=True`."""
    bind = session.bind
    return bool(bind is not None and bind.sync_engine.get_execution_options().get(READ_ONLY_OPTION))


def is_read_only(request: Request) -> bool:
    """Whether this request's session is read-only: by HTTP method."""
    return request.method in READ_ONLY_METHODS


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed after the route returns, before the response.

    Nothing is sent to the database until the route's first statement.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with open_session(sessionmaker, read_only=is_read_only(request)) as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function" closes the dependency when the route function returns, so the commit
# (and any constraint error it raises) happens before the client sees a 2xx.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
