"""Transactions: reads take no write lock; one process's writers queue before SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from meetbook.db import create_engine, create_sessionmaker, open_session
from meetbook.models import ApiToken, User
from tests.conftest import World, backend_of, settings_for


async def _hold_write_transaction(database_url: str, user_id: int) -> Any:
    """Another connection, outside this process's lock, in the middle of a write."""
    if backend_of(database_url) == "sqlite":
        path = database_url.removeprefix("sqlite+aiosqlite:///")
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE users SET name = 'held' WHERE id = ?", (user_id,))
        return raw
    engine = create_async_engine(database_url)
    connection = await engine.connect()
    await connection.execute(text("UPDATE users SET name = 'held' WHERE id = :id"), {"id": user_id})
    return (engine, connection)


async def _release(held: Any) -> None:
    if isinstance(held, sqlite3.Connection):
        held.rollback()
        held.close()
        return
    engine, connection = held
    await connection.rollback()
    await connection.close()
    await engine.dispose()


async def test_a_read_session_answers_while_another_connection_holds_the_write_lock(
    database_url: str, tmp_path: Path, world: World
) -> None:
    ana = await world.person("Ana")
    engine = create_engine(settings_for(database_url, tmp_path))
    sessionmaker = create_sessionmaker(engine)
    held = await _hold_write_transaction(database_url, ana.id)
    try:
        async with open_session(sessionmaker, read_only=True) as session:
            # Before: every transaction was BEGIN IMMEDIATE and waited out the 30 s busy
            # timeout here.
            name = await asyncio.wait_for(
                session.scalar(select(User.name).where(User.id == ana.id)), timeout=5
            )
        assert name == "Ana"  # the committed row, not the other connection's change
    finally:
        await _release(held)
        await engine.dispose()


def _no_busy_wait(engine: AsyncEngine) -> None:
    """Make SQLite refuse at once, instead of waiting, when its write lock is taken."""

    @event.listens_for(engine.sync_engine, "connect")
    def _impatient(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()


async def test_writers_of_one_process_never_meet_sqlites_lock(
    database_url: str, tmp_path: Path, world: World
) -> None:
    ana = await world.person("Ana")
    settings = settings_for(database_url, tmp_path)
    # Two engines on one file, as the API and an in-process worker would be; with a zero
    # busy timeout any writer that reached SQLite while another held the lock would fail
    # with "database is locked" (before this change, most of them did).
    engines = [create_engine(settings), create_engine(settings)]
    if backend_of(database_url) == "sqlite":
        for engine in engines:
            _no_busy_wait(engine)
    sessionmakers = [create_sessionmaker(engine) for engine in engines]

    async def bump(index: int) -> None:
        sessionmaker = sessionmakers[index % 2]
        async with sessionmaker() as session, session.begin():  # the worker's pattern
            # FOR UPDATE serializes these on PostgreSQL; SQLite ignores it (BEGIN IMMEDIATE).
            name = await session.scalar(
                select(User.name).where(User.id == ana.id).with_for_update()
            )
            await asyncio.sleep(0.005)  # other writers try to get in meanwhile
            await session.execute(update(User).where(User.id == ana.id).values(name=f"{name}+"))

    async def raw_bump(index: int) -> None:
        async with engines[index % 2].begin() as connection:  # the bench ceiling's pattern
            await connection.execute(
                text("UPDATE users SET timezone = 'UTC' WHERE id = :id"), {"id": ana.id}
            )

    try:
        await asyncio.gather(*(bump(i) for i in range(20)), *(raw_bump(i) for i in range(10)))
        async with open_session(sessionmakers[0], read_only=True) as session:
            name = await session.scalar(select(User.name).where(User.id == ana.id))
        assert name == "Ana" + "+" * 20  # serialized: no update was lost
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_write_request_records_token_use_in_its_own_transaction(
    client: Any, world: World, sessionmaker: Any
) -> None:
    ana = await world.person("Ana")
    answer = await client.patch("/api/v3/me", headers=ana.auth, json={"name": "Ana B"})
    assert answer.status_code == 200
    async with sessionmaker() as session:
        used = await session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == ana.id))
    assert used is not None


async def test_a_read_only_session_may_not_write_on_sqlite(tmp_path: Path) -> None:
    # Writing would upgrade SQLite's read snapshot to a write behind the write lock's
    # back: it can wait in the busy handler or fail. Refused, so such code shows in tests.
    url = f"sqlite+aiosqlite:///{tmp_path}/guard.db"
    engine = create_engine(settings_for(url, tmp_path))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        sessionmaker = create_sessionmaker(engine)
        async with open_session(sessionmaker, read_only=True) as session:
            assert (await session.scalar(text("SELECT count(*) FROM t"))) == 0
            with pytest.raises(RuntimeError, match="write in a read-only session"):
                await session.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()


async def test_a_burst_of_reads_that_record_token_use_does_not_empty_the_pool(
    client: Any, world: World
) -> None:
    # Each first use of a token writes last_used_at from a GET. When the read held its
    # pooled connection while the write waited for another, 40 at once took every
    # connection and all waited out the pool timeout (then 503).
    people = [await world.person() for _ in range(40)]
    started = asyncio.get_running_loop().time()
    answers = await asyncio.gather(
        *(client.get("/api/v3/me", headers=person.auth) for person in people)
    )
    assert [answer.status_code for answer in answers] == [200] * 40
    assert asyncio.get_running_loop().time() - started < 8
