"""PostgreSQL pool without pre-ping (meetbook/db.py, "Checking PostgreSQL connections"):
a connection the server ended is replaced before a request uses it, one that sat idle is
pinged once, and a busy one costs no extra round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from meetbook import db
from meetbook.db import create_engine
from tests.conftest import settings_for


@pytest_asyncio.fixture
async def engine(postgres_admin_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # The pool check is PostgreSQL's; it needs no tables, so the server's own database.
    engine = create_engine(settings_for(postgres_admin_url, tmp_path), pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_the_server_ended_is_replaced_before_use(engine: AsyncEngine) -> None:
    assert not engine.pool._pre_ping  # type: ignore[attr-defined]
    first = await _backend_pid(engine)
    admin = create_engine(settings_for(str(engine.url.render_as_string(False)), Path(".")))
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            for _ in range(500):  # until the backend is gone (bounded: 5 s)
                gone = await connection.scalar(
                    text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": first},
                )
                await connection.rollback()
                if gone:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the backend did not end")
    finally:
        await admin.dispose()
    await asyncio.sleep(0.05)  # the loop reads the closed socket
    # Without the check this statement would fail with "connection is closed" (a 503).
    second = await _backend_pid(engine)
    assert second != first


async def test_busy_connections_get_no_ping_and_idle_ones_one(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []

    # The ping bypasses SQLAlchemy's events: asyncpg's query logger sees the statements
    # sent with the simple protocol (the transaction's and the ping), not prepared ones.
    async def record(connection: Any) -> None:
        connection.add_query_logger(lambda record: sent.append(record.query))

    async def statements_of_one_query() -> list[str]:
        sent.clear()
        await _backend_pid(engine)
        await asyncio.sleep(0)  # asyncpg calls its loggers with call_soon
        return list(sent)

    await _backend_pid(engine)
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        await record(raw.driver_connection)
    # The statement's own transaction only; pre-ping added a BEGIN, `;` and ROLLBACK.
    assert await statements_of_one_query() == ["BEGIN;", "ROLLBACK;"]
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    assert await statements_of_one_query() == ["SELECT 1", "BEGIN;", "ROLLBACK;"]

    calls: list[str] = []

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checked_out(*_args: Any) -> None:
        calls.append("checkout")

    await _backend_pid(engine)
    assert calls == ["checkout"]
