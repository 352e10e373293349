"""API CPU per request, in-process, A/B: `python -m bench.inprocess --route me --a KEY=V --b KEY=V`.

One fresh PostgreSQL database (SQLite with `--backend sqlite`); the app (with
`create_app`) is driven through httpx's ASGI transport by one person with one token, so
every token lookup after the first is a cache hit unless the cache is off
(`--a token_cache_seconds=0`). Sides A and B (settings given as KEY=VALUE, the Settings
field names) alternate, `--pairs` times; each prints the process CPU time per request
(the httpx client included) and the SQL statements per request (BEGIN and COMMIT
included). Used for docs/benchmarks.md "Issue #15 levers".

`--single` runs side A only, once: for an A/B between two checkouts, alternate runs with
PYTHONPATH on each (`PYTHONPATH=/other/src:. python -m bench.inprocess --single ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from tests.conftest import (
    POSTGRES_URL,
    Person,
    World,
    create_postgres_database,
    drop_postgres_database,
    settings_for,
)

from meetbook.app import create_app
from meetbook.auth import tokens
from meetbook.migrate import upgrade_async

ROUTES = ("me", "list", "list-confirmed", "pending", "details", "free-slots", "create")


@asynccontextmanager
async def two_people(
    url: str, **extra: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Person, Person, int]]:
    """The app (rate limits off, `extra` settings) on `url`, an ASGI client, and Ana and Bo
    in a team: (app, client, ana, bo, team id)."""
    settings = settings_for(url, Path("."), rate_limit_api="off", rate_limit_create="off", **extra)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        world = World(app.state.sessionmaker)
        ana, bo = await world.person("Ana"), await world.person("Bo")
        team = await world.team(ana, bo)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as c:
            yield app, c, ana, bo, team


async def cpu_per_request(
    url: str, route: str, requests: int, extra: dict[str, Any], *, write_last_used: bool = False
) -> tuple[float, float]:
    """(CPU ms, SQL statements) per request of `route`; with `write_last_used`, the
    `last_used_at` throttle is off, so each request whose token is looked up writes it
    (as a reader's first use does in bench.run; use with `token_cache_seconds=0`)."""
    if write_last_used:
        tokens.LAST_USED_EVERY = timedelta(0)
    async with two_people(url, **extra) as (app, c, ana, bo, team):
        base = datetime.now(UTC) + timedelta(days=2)

        async def create(minutes: int) -> httpx.Response:
            date = (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:00Z")
            body = {"user_id": bo.id, "team_id": team, "date": date}
            return await c.post("/api/v3/meeting/create", json=body, headers=ana.auth)

        # 20 meetings for the lists; Bo confirms every other one, the rest await him.
        meeting = "/api/v3/meeting"
        ids = []
        for day in range(20):
            created = await create(24 * 60 * (day + 30))
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        for meeting_id in ids[::2]:
            confirmed = await c.post(f"{meeting}/{meeting_id}/confirm", headers=bo.auth)
            assert confirmed.status_code == 200, confirmed.text
        reader, path = {
            "me": (ana, "/api/v3/me"),
            "list": (ana, f"{meeting}/list"),
            "list-confirmed": (ana, f"{meeting}/list?status=confirmed"),
            "pending": (bo, f"{meeting}/pending"),
            "details": (ana, f"{meeting}/{ids[0]}"),
            "free-slots": (ana, f"/api/v3/teams/{team}/members/{bo.id}/free-slots"),
        }.get(route, (ana, None))

        async def one(n: int) -> httpx.Response:
            if path is None:
                return await create(n)
            return await c.get(path, headers=reader.auth)

        for n in range(100):  # warm-up
            await one(n)
        started = time.process_time()
        for n in range(100, 100 + requests):
            response = await one(n)
            assert response.status_code in (200, 201), response.text
        cpu_ms = (time.process_time() - started) / requests * 1000
        # Counted apart from the timed run: the listener costs CPU of its own.
        sent = 0

        def count(*_: Any) -> None:
            nonlocal sent
            sent += 1

        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        counted = 50
        for n in range(100 + requests, 100 + requests + counted):
            await one(n)
        event.remove(engine, "before_cursor_execute", count)
        return cpu_ms, sent / counted


def _settings(pairs: list[str]) -> dict[str, Any]:
    return dict(pair.split("=", 1) for pair in pairs)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--route", choices=ROUTES, default="me")
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--single", action="store_true", help="side A only, once")
    parser.add_argument(
        "--write-last-used", action="store_true", help="no last_used_at throttle (with a miss)"
    )
    parser.add_argument("--a", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    sides = [("A", _settings(args.a))] + ([] if args.single else [("B", _settings(args.b))])
    results: dict[str, list[float]] = {side: [] for side, _ in sides}
    for _ in range(1 if args.single else args.pairs):
        for side, extra in sides:
            ms, statements = await _run(
                args.backend, args.route, args.requests, extra, args.write_last_used
            )
            results[side].append(ms)
            print(
                f"{side} {extra}: {ms:.2f} ms CPU, {statements:.1f} statements "
                f"per {args.route} request ({args.backend})",
                flush=True,
            )
    for side, values in results.items():
        print(f"{side} median {statistics.median(values):.2f} ms")


async def _run(
    backend: str, route: str, requests: int, extra: dict[str, Any], write_last_used: bool
) -> tuple[float, float]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/meetbook.db"
            await upgrade_async(url)
            return await cpu_per_request(
                url, route, requests, extra, write_last_used=write_last_used
            )
    url = await create_postgres_database(POSTGRES_URL)
    try:
        await upgrade_async(url)
        return await cpu_per_request(url, route, requests, extra, write_last_used=write_last_used)
    finally:
        await drop_postgres_database(POSTGRES_URL, url)


if __name__ == "__main__":
    asyncio.run(main())
