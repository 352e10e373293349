"""Fixtures of the reliability tests: fresh databases for real `meetbook` processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conftest import (
    POSTGRES_URL,
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.reliability.harness import MessageIdSink, SmtpSink, db_upgrade


@asynccontextmanager
async def fresh_database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """A new database migrated by `meetbook db upgrade`; PostgreSQL's is dropped after."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'meetbook.db'}"
        await asyncio.to_thread(db_upgrade, url, workdir)
        yield url
        return
    await require_postgres()
    url = await create_postgres_database(POSTGRES_URL)
    try:
        await asyncio.to_thread(db_upgrade, url, workdir)
        yield url
    finally:
        await drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture
def smtp_sink() -> object:
    """A started MessageIdSink on a free port: (handler, controller)."""
    handler = MessageIdSink()
    controller = SmtpSink(handler)
    controller.start()
    yield handler, controller
    handler.mode = "accept"  # release any hung DATA so the server thread can stop
    controller.stop()
