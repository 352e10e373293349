"""Migrations build the schema from empty on both databases and take it down again."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.migrate import downgrade, upgrade
from meetbook.models import Base
from tests.conftest import create_postgres_database, drop_postgres_database


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def _roundtrip(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    assert await _tables(url) == set(Base.metadata.tables)
    await asyncio.to_thread(downgrade, url)
    assert await _tables(url) == set()
    await asyncio.to_thread(upgrade, url)
    assert await _tables(url) == set(Base.metadata.tables)


async def test_upgrade_downgrade_sqlite(tmp_path) -> None:
    await _roundtrip(f"sqlite+aiosqlite:///{tmp_path}/m.db")


async def test_upgrade_downgrade_postgres(postgres_admin_url: str) -> None:
    url = await create_postgres_database(postgres_admin_url)
    try:
        await _roundtrip(url)
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            found = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_constraint WHERE conname = 'ex_busy_slots_no_overlap'"
                )
            )
        await engine.dispose()
        assert found == 1
    finally:
        await drop_postgres_database(postgres_admin_url, url)


async def _old_web_sessions_end(url: str) -> None:
    """Before 0004 a web session was an API token named "web session" (its value in the
    cookie, usable as a bearer token); the upgrade makes those rows ended sessions."""
    await asyncio.to_thread(upgrade, url, "0001")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, email, name, created_at) "
                "VALUES (1, 'ana@example.com', 'Ana', CURRENT_TIMESTAMP)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES "
                "(1, 'web session', 'a', CURRENT_TIMESTAMP), (1, 'laptop', 'b', CURRENT_TIMESTAMP)"
            )
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT name, kind, revoked_at IS NOT NULL FROM api_tokens ORDER BY name")
            )
        ).all()
    await engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("laptop", "api", False),
        ("web session", "session", True),
    ]


async def test_old_web_sessions_end_at_the_upgrade_sqlite(tmp_path) -> None:
    await _old_web_sessions_end(f"sqlite+aiosqlite:///{tmp_path}/old.db")


async def test_old_web_sessions_end_at_the_upgrade_postgres(postgres_admin_url: str) -> None:
    url = await create_postgres_database(postgres_admin_url)
    try:
        await _old_web_sessions_end(url)
    finally:
        await drop_postgres_database(postgres_admin_url, url)
