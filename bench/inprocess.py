"""API CPU per request, in-process, A/B: `python -m bench.inprocess --route me --a KEY=V --b KEY=V`.

One fresh PostgreSQL database; the app (with `create_app`) is driven through httpx's
ASGI transport by one person with one token, so every token lookup after the first is a
cache hit unless the cache is off. Sides A and B (settings given as KEY=VALUE, the
Settings field names) alternate, `--pairs` times; each prints the process CPU time per
request (the httpx client included). Used for docs/benchmarks.md "Issue #15 levers".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from tests.conftest import (
    POSTGRES_URL,
    Person,
    World,
    create_postgres_database,
    drop_postgres_database,
    settings_for,
)

from meetbook.app import create_app
from meetbook.migrate import upgrade_async


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


async def cpu_per_request(url: str, route: str, requests: int, extra: dict[str, Any]) -> float:
    async with two_people(url, **extra) as (_app, c, ana, bo, team):
        base = datetime.now(UTC) + timedelta(days=2)

        async def create(minutes: int) -> httpx.Response:
            date = (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:00Z")
            body = {"user_id": bo.id, "team_id": team, "date": date}
            return await c.post("/api/v3/meeting/create", json=body, headers=ana.auth)

        for day in range(20):  # 20 meetings for the list
            assert (await create(24 * 60 * (day + 30))).status_code == 201
        path = {"me": "/api/v3/me", "list": "/api/v3/meeting/list"}.get(route)

        async def one(n: int) -> httpx.Response:
            return await create(n) if path is None else await c.get(path, headers=ana.auth)

        for n in range(100):  # warm-up
            await one(n)
        started = time.process_time()
        for n in range(100, 100 + requests):
            response = await one(n)
            assert response.status_code in (200, 201), response.text
        return (time.process_time() - started) / requests * 1000


def _settings(pairs: list[str]) -> dict[str, Any]:
    return dict(pair.split("=", 1) for pair in pairs)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--route", choices=("me", "list", "create"), default="me")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--a", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    results: dict[str, list[float]] = {"A": [], "B": []}
    for _ in range(args.pairs):
        for side, extra in (("A", _settings(args.a)), ("B", _settings(args.b))):
            url = await create_postgres_database(POSTGRES_URL)
            try:
                await upgrade_async(url)
                ms = await cpu_per_request(url, args.route, args.requests, extra)
            finally:
                await drop_postgres_database(POSTGRES_URL, url)
            results[side].append(ms)
            print(f"{side} {extra}: {ms:.2f} ms CPU per {args.route} request", flush=True)
    for side, values in results.items():
        print(f"{side} median {statistics.median(values):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
