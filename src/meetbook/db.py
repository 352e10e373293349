"""Database engine and sessions.

One session per request: the dependency commits when the route returns and rolls back
when it raises, so a state change and its outbox rows land together or not at all.
Services only `flush()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from meetbook.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """Make the engine for the configured database, with the per-backend tuning it needs."""
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **overrides,
        )
        _serialize_sqlite_writes(engine)
        return engine
    options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 10,
        "pool_timeout": settings.db_timeout,
        "pool_pre_ping": True,
        "connect_args": {
            "timeout": settings.db_timeout,
            "command_timeout": settings.db_timeout * 3,
            "server_settings": {"application_name": "meetbook"},
        },
    }
    options.update(overrides)
    return create_async_engine(settings.database_url, **options)


def _serialize_sqlite_writes(engine: AsyncEngine) -> None:
    """Make every SQLite transaction `BEGIN IMMEDIATE`.

    pysqlite's own transaction handling defers BEGIN until the first write, so two
    transactions can both read "the slot is free" and then both write. Taking the write
    lock at BEGIN turns each check-then-write into one serialized unit, which is how
    double booking and double transitions are prevented on SQLite. WAL keeps readers of
    other connections unblocked by the writer.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_sessionmaker(
    engine: AsyncEngine, *, on_outbox_commit: Callable[[], None] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions for `engine`; `on_outbox_commit` runs after a commit that wrote notifications."""

    class AppSession(Session):
        """A Session class of this sessionmaker's own, so its event hooks stay local to it."""

    if on_outbox_commit is not None:
        from meetbook.notifications.outbox import OUTBOX_WRITTEN

        @event.listens_for(AppSession, "after_commit")
        def _wake_worker(session: Session) -> None:
            if session.info.pop(OUTBOX_WRITTEN, False):
                on_outbox_commit()

    @event.listens_for(AppSession, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop("meetbook.outbox_written", None)

    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=AppSession
    )


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's session: committed after the route returns, before the response."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


# scope="function" closes the dependency when the route function returns, so the commit
# (and any constraint error it raises) happens before the client sees a 2xx.
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]
