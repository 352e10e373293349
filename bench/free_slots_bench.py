"""Free slots with a linked calendar (issue #12's target), beside `GET /me` in the same run.

    .venv/bin/python -m bench.free_slots_bench [--backends sqlite,postgresql] [--duration 10]

Per backend: a fresh database; a member (Europe/Berlin) with 10,000 past and 200 future
confirmed meetings (busy slots), and a linked calendar in a real Radicale (started here,
on loopback) holding 500 events over the next 60 days, linked through the API; then
`meetbook serve` and wrk at 8 connections, one point each:

- `me`: `GET /api/v3/me`, the cheapest authenticated route (the floor);
- `free-slots (cached)`: the default window (now -> +7 days), which every request shares,
  so the calendar is read at most once a minute per process;
- `free-slots (uncached)`: a different hour-aligned `from` per request, so every request
  reads the calendar from Radicale (the worst case: a cold cache).

Prints p50/p99 (ms) and requests/s per point. Needs wrk and, for PostgreSQL, the server on
127.0.0.1:5432 (`--pg-admin-url`). Figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from tests.availability.conftest import Radicale, run_radicale, vevent

from bench.notifications_bench import bench_database, make_cast, meetbook_serve
from bench.procs import free_port
from bench.wrk import run_wrk, wrk_path
from meetbook.auth.tokens import issue_token
from meetbook.models import BusySlot, Meeting

PAST_MEETINGS = 10_000
FUTURE_MEETINGS = 200
CALENDAR_EVENTS = 500
CONNECTIONS = 8


async def seed_meetings(
    sessionmaker: async_sessionmaker[AsyncSession], requester: int, member: int, team: int
) -> None:
    """10,000 past and 200 future confirmed meetings of `member`, with their busy slots."""
    now = int(datetime.now(UTC).timestamp()) // 3600 * 3600
    starts = [now - (i + 1) * 3 * 3600 for i in range(PAST_MEETINGS)]
    starts += [now + 86400 + i * 7 * 3600 for i in range(FUTURE_MEETINGS)]
    async with sessionmaker() as session, session.begin():
        meetings = [
            Meeting(
                booking_number=f"B{index:09d}",
                requester_id=requester,
                recipient_id=member,
                team_id=team,
                timezone="Europe/Berlin",
                start_time=start,
                end_time=start + 3600,
                status="confirmed",
            )
            for index, start in enumerate(starts)
        ]
        session.add_all(meetings)
        await session.flush()
        session.add_all(
            BusySlot(meeting_id=m.id, user_id=user, start_time=m.start_time, end_time=m.end_time)
            for m in meetings
            for user in (requester, member)
        )


def fill_calendar(radicale: Radicale) -> str:
    """A calendar of 500 one-hour events over the next 60 days (8 writers in parallel)."""
    url = radicale.new_calendar()
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(12)

    def event(index: int) -> str:
        start = base + timedelta(hours=rng.randrange(60 * 24))
        end = start + timedelta(hours=1)
        stamp = "%Y%m%dT%H%M%SZ"
        lines = f"DTSTART:{start:{stamp}}\nDTEND:{end:{stamp}}\nSUMMARY:Event {index}"
        return vevent(f"bench-{index}", lines)

    bodies = [event(index) for index in range(CALENDAR_EVENTS)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: radicale.add_event(url, body), bodies))
    return url


def _requests_file(folder: Path, name: str, lines: list[str]) -> Path:
    path = folder / f"{name}.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_backend(
    backend: str, args: argparse.Namespace, radicale: Radicale, calendar_url: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"freeslots-{backend}-") as tmp:
        workdir = Path(tmp)
        async with bench_database(backend, workdir, args.pg_admin_url) as url:
            engine = create_async_engine(url)
            sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
            cast = await make_cast(sessionmaker)
            await seed_meetings(sessionmaker, cast.requester_id, cast.recipient_id, cast.team_id)
            async with sessionmaker() as session, session.begin():
                member_token, _ = await issue_token(session, cast.recipient_id, "bench")
            await engine.dispose()
            loopback = {"MEETBOOK_ALLOW_PRIVATE_TARGETS": "1"}  # Radicale is on loopback
            async with meetbook_serve(url, free_port(), workdir, 180, loopback) as base_url:
                async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                    body = {
                        "url": calendar_url,
                        "username": radicale.username,
                        "password": radicale.password,
                    }
                    auth = {"Authorization": f"Bearer {member_token}"}
                    linked = await http.put("/api/v3/me/calendar", json=body, headers=auth)
                    if linked.status_code != 200:
                        raise RuntimeError(f"linking the calendar failed: {linked.text}")
                slots = f"/api/v3/teams/{cast.team_id}/members/{cast.recipient_id}/free-slots"
                hour = int(datetime.now(UTC).timestamp()) // 3600 * 3600 + 3600
                points = {
                    "me": [f"GET\t/api/v3/me\t{cast.token}"],
                    "free-slots (cached)": [f"GET\t{slots}\t{cast.token}"],
                    "free-slots (uncached)": [
                        f"GET\t{slots}?from={hour + i * 3600}\t{cast.token}" for i in range(20_000)
                    ],
                }
                for name, lines in points.items():
                    data = _requests_file(workdir, name.split()[0] + str(len(lines)), lines)
                    run_wrk(
                        base_url, mode="requests", data=data, path="/", connections=8, duration=2
                    )
                    result = run_wrk(
                        base_url,
                        mode="requests",
                        data=data,
                        path="/",
                        connections=CONNECTIONS,
                        duration=args.duration,
                        offset=10_000 if "uncached" in name else 0,
                    )
                    rows.append(
                        {
                            "backend": backend,
                            "route": name,
                            "rps": round(result.rps, 1),
                            "p50_ms": round(result.latency_ms.get("p50", 0.0), 1),
                            "p99_ms": round(result.latency_ms.get("p99", 0.0), 1),
                            "errors": result.error_count,
                            "statuses": result.statuses,
                        }
                    )
                    print(rows[-1], flush=True)
    return rows


async def main_async(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="freeslots-radicale-") as folder,
        run_radicale(Path(folder)) as radicale,
    ):
        calendar_url = await asyncio.to_thread(fill_calendar, radicale)
        rows = []
        for backend in args.backends.split(","):
            rows += await run_backend(backend.strip(), args, radicale, calendar_url)
    cores, load = os.cpu_count() or 0, os.getloadavg()[0]
    print(f"\nfree slots at {CONNECTIONS} connections ({cores} cores; load {load:.1f}):")
    print(f"{'backend':<11} {'route':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in rows:
        print(
            f"{row['backend']:<11} {row['route']:<22} {row['rps']:>8} {row['p50_ms']:>8} "
            f"{row['p99_ms']:>8} {row['errors']:>7}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    if wrk_path() is None:
        sys.exit("wrk is not installed: sudo apt-get install -y wrk")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
