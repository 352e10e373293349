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
