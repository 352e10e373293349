"""Revision 0002 gives meetings made before it a `created` entry and a fitting sequence."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.migrate import upgrade_async
from tests.conftest import create_postgres_database, drop_postgres_database

_MEETING = (
    "INSERT INTO meetings (id, booking_number, requester_id, recipient_id, team_id, timezone,"
    " start_time, end_time, status, created_at, updated_at) VALUES (:id, :number, 1, 2, 1,"
    " 'UTC', 1900000000, 1900003600, :status, '2026-01-02 03:04:05', '2026-01-03 00:00:00')"
)


async def _check(url: str) -> None:
    await upgrade_async(url, "0001")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for user_id in (1, 2):
            await connection.execute(
                text(
                    "INSERT INTO users (id, email, name, created_at) "
                    "VALUES (:id, :email, 'U', '2026-01-01 00:00:00')"
                ),
                {"id": user_id, "email": f"u{user_id}@example.com"},
            )
        await connection.execute(
            text("INSERT INTO teams (id, name, created_at) VALUES (1, 'T', '2026-01-01 00:00:00')")
        )
        for meeting_id, status in ((1, "pending"), (2, "cancelled")):
            await connection.execute(
                text(_MEETING), {"id": meeting_id, "number": f"MB-{meeting_id}", "status": status}
            )
    await engine.dispose()
    await upgrade_async(url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        history = (
            await connection.execute(
                text(
                    "SELECT meeting_id, action, actor_id, from_status, to_status, start_time "
                    "FROM meeting_history ORDER BY meeting_id"
                )
            )
        ).all()
        sequences = (
            await connection.execute(text("SELECT id, sequence FROM meetings ORDER BY id"))
        ).all()
    await engine.dispose()
    assert [tuple(row) for row in history] == [
        (1, "created", 1, None, "pending", 1900000000),
        (2, "created", 1, None, "pending", 1900000000),
    ]
    # A cancel sent its METHOD:CANCEL with SEQUENCE 1 before the column existed.
    assert [tuple(row) for row in sequences] == [(1, 0), (2, 1)]


async def test_backfill_on_sqlite(tmp_path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path}/m.db")


async def test_backfill_on_postgres(postgres_admin_url: str) -> None:
    url = await create_postgres_database(postgres_admin_url)
    try:
        await _check(url)
    finally:
        await drop_postgres_database(postgres_admin_url, url)
