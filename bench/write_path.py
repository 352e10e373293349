"""Statements and API CPU per request of the write routes, in-process: `python -m bench.write_path`.

Drives `POST /api/v3/meeting/create` or `POST /api/v3/meeting/{id}/confirm` through
httpx's ASGI transport on a fresh database (PostgreSQL, or a SQLite file) and prints,
per request, the SQL statements the app's engine sent and the process CPU time (the
httpx client included). Compares code, not settings: run it alternately with
PYTHONPATH naming each tree (`src` of the tree first), e.g.

    PYTHONPATH=/work/wt/before/src:. python -m bench.write_path --route confirm
    PYTHONPATH=src:. python -m bench.write_path --route confirm

Each confirm is of a pending meeting of its own, made beforehand (one hour apart, so
none overlaps another's busy slot). Used for docs/benchmarks.md "Issue #15 levers".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

import meetbook
from bench.inprocess import two_people
from meetbook.migrate import upgrade_async

WARM_UP = 50


async def measure(url: str, route: str, requests: int, show: bool) -> tuple[float, float]:
    """(median statements per request, CPU ms per request) of `requests` requests;
    `show`: print the statements of the last one."""
    async with two_people(url) as (app, c, ana, bo, team):
        base = datetime.now(UTC).replace(minute=0, second=0) + timedelta(days=2)

        async def create(hours: int) -> httpx.Response:
            date = (base + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:00Z")
            body = {"user_id": bo.id, "team_id": team, "date": date}
            return await c.post("/api/v3/meeting/create", json=body, headers=ana.auth)

        one: Callable[[int], Awaitable[httpx.Response]] = create
        if route == "confirm":
            ids = []
            for hour in range(WARM_UP + requests):
                created = await create(hour)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])

            async def confirm(n: int) -> httpx.Response:
                return await c.post(f"/api/v3/meeting/{ids[n]}/confirm", headers=bo.auth)

            one = confirm
        counts: list[int] = []
        sent: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            sent.append(statement)

        for n in range(WARM_UP):
            assert (await one(n)).status_code in (200, 201)
        event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
        started = time.process_time()
        for n in range(WARM_UP, WARM_UP + requests):
            sent.clear()
            response = await one(n)
            counts.append(len(sent))
            assert response.status_code in (200, 201), response.text
        cpu_ms = (time.process_time() - started) / requests * 1000
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", count)
        if show:
            print("\n".join(" ".join(statement.split())[:160] for statement in sent))
        return statistics.median(counts), cpu_ms


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.write_path")
    parser.add_argument("--route", choices=("create", "confirm"), default="create")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--show", action="store_true", help="print the last request's SQL")
    args = parser.parse_args()
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite+aiosqlite:///{directory}/meetbook.db"
            await upgrade_async(url)
            statements, cpu_ms = await measure(url, args.route, args.requests, args.show)
    else:
        url = await create_postgres_database(POSTGRES_URL)
        try:
            await upgrade_async(url)
            statements, cpu_ms = await measure(url, args.route, args.requests, args.show)
        finally:
            await drop_postgres_database(POSTGRES_URL, url)
    print(
        f"{args.route} {args.backend} ({Path(meetbook.__file__).parents[2]}): "
        f"{statements:g} statements, {cpu_ms:.2f} ms CPU per request",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
