"""Stalls: does one slow client, or a burst of sign-ins, hold up everyone else?

    .venv/bin/python -m bench.stalls                     # both databases, ~2 min
    .venv/bin/python -m bench.stalls --backends sqlite --dribble 15 --sign-ins 10

Per backend: a fresh database (PostgreSQL: CREATE DATABASE on 127.0.0.1:5432, dropped
afterwards; SQLite: a temporary file) with one team of three people and a few meetings,
and `meetbook serve --workers 1 --no-worker` on a free port (one API process: the
embedded default), with production Argon2 parameters. Then, over loopback:

(a) **dribble**: one signed-in client sends `PATCH /api/v3/me` through a raw socket, its
    headers at once and its body one byte every 0.5 s for `--dribble` seconds. Meanwhile
    another user sends `GET /api/v3/me` and `GET /api/v3/meeting/list` back to back (and
    a `PATCH /api/v3/me` of their own every tenth request). The same loop without the
    dribbler is the baseline.
(b) **sign-ins**: `--sign-ins` concurrent `POST /api/v3/auth/token` (each an Argon2
    check); meanwhile `GET /healthz` and `GET /api/v3/meeting/list` back to back.

It prints the median, p99 and maximum latency of each request kind per phase. Figures
vary with the machine's load (read docs/benchmarks.md, "Read this first"); what matters
is the ratio to the idle baseline, and whether anything waits for the slow client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.procs import Server, free_port
from bench.run import SECRET, _create_pg_database, _drop_pg_database, _server_env

PASSWORD = "stalls-bench-password"
DRIBBLE_EVERY = 0.5


@dataclass
class Person:
    id: int
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Samples:
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, kind: str, seconds: float) -> None:
        self.by_kind[kind].append(seconds * 1000)

    def lines(self, backend: str, phase: str) -> list[str]:
        out = []
        for kind, values in self.by_kind.items():
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            out.append(
                f"  {backend:<10} {phase:<22} {kind:<20} n={len(values):<5}"
                f" median {statistics.median(values):7.1f}  p99 {p99:7.1f}"
                f"  max {ordered[-1]:7.1f} ms"
            )
        return out


async def seed(url: str) -> tuple[list[Person], int]:
    """Three people in one team (production Argon2 hashes), with a token each."""
    from meetbook.accounts import service as accounts
    from meetbook.auth.tokens import issue_token
    from meetbook.config import Settings
    from meetbook.db import create_engine, create_sessionmaker
    from meetbook.migrate import upgrade_async

    await upgrade_async(url)
    engine = create_engine(Settings(database_url=url, secret_key=SECRET))
    people = []
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            team = await accounts.create_team(session, "Stalls")
            for index in range(3):
                email = f"stalls{index}@example.com"
                user = await accounts.create_user(
                    session, name=f"Person {index}", email=email, timezone="UTC", password=PASSWORD
                )
                await accounts.add_member(session, team.id, user.id)
                token, _row = await issue_token(session, user.id, "bench")
                people.append(Person(user.id, email, token))
    finally:
        await engine.dispose()
    return people, team.id


async def make_meetings(http: httpx.AsyncClient, people: list[Person], team_id: int) -> None:
    start = int(time.time()) + 30 * 86400
    for index in range(20):
        response = await http.post(
            "/api/v3/meeting/create",
            headers=people[1].auth,
            json={
                "user_id": people[2].id,
                "team_id": team_id,
                "date": datetime.fromtimestamp(start + index * 7200, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            },
        )
        response.raise_for_status()


async def probe(
    http: httpx.AsyncClient, person: Person, samples: Samples, stop: asyncio.Event, kinds: str
) -> None:
    """Back-to-back requests of `kinds` until `stop` is set."""
    count = 0
    while not stop.is_set():
        count += 1
        requests: list[tuple[str, str, str, dict[str, str] | None]]
        if kinds == "sign-ins":
            requests = [("GET /healthz", "GET", "/healthz", None)]
        else:
            requests = [("GET /me", "GET", "/api/v3/me", None)]
            if count % 10 == 0:
                requests.append(("PATCH /me", "PATCH", "/api/v3/me", {"name": f"P {count}"}))
        requests.append(("GET /meeting/list", "GET", "/api/v3/meeting/list", None))
        for kind, method, path, body in requests:
            started = time.perf_counter()
            response = await http.request(method, path, headers=person.auth, json=body)
            response.raise_for_status()
            samples.add(kind, time.perf_counter() - started)


async def dribble(port: int, person: Person, seconds: float) -> str:
    """PATCH /me with its body sent one byte per DRIBBLE_EVERY s; returns the status line."""
    size = max(16, int(seconds / DRIBBLE_EVERY))
    body = ('{"name": "' + "D" * (size - 12) + '"}').encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "PATCH /api/v3/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {person.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    for byte in body:
        await asyncio.sleep(DRIBBLE_EVERY)
        writer.write(bytes([byte]))
        await writer.drain()
    status = (await reader.readline()).decode().strip()
    writer.close()
    return status


async def measure(
    base_url: str, port: int, people: list[Person], args: argparse.Namespace
) -> list[str]:
    backend = args.current
    lines: list[str] = []
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        await make_meetings(http, people, args.team_id)

        for phase in ("idle", "while dribbling"):
            samples, stop = Samples(), asyncio.Event()
            prober = asyncio.create_task(probe(http, people[1], samples, stop, "dribble"))
            if phase == "idle":
                await asyncio.sleep(min(args.dribble, 5))
                status = ""
            else:
                status = await dribble(port, people[0], args.dribble)
            stop.set()
            await prober
            lines += samples.lines(backend, phase)
            if status:
                lines.append(f"  {backend:<10} {'':<22} the dribbler's answer: {status}")

        for phase in ("idle", f"{args.sign_ins} sign-ins"):
            samples, stop = Samples(), asyncio.Event()
            prober = asyncio.create_task(probe(http, people[1], samples, stop, "sign-ins"))
            if phase == "idle":
                await asyncio.sleep(3)
            else:
                started = time.perf_counter()
                answers = await asyncio.gather(
                    *(
                        http.post(
                            "/api/v3/auth/token",
                            json={"email": people[2].email, "password": PASSWORD},
                        )
                        for _ in range(args.sign_ins)
                    )
                )
                took = time.perf_counter() - started
                codes = sorted({answer.status_code for answer in answers})
            stop.set()
            await prober
            lines += samples.lines(backend, phase)
            if phase != "idle":
                lines.append(
                    f"  {backend:<10} {'':<22} {args.sign_ins} sign-ins took {took:.2f} s"
                    f" (statuses {codes})"
                )
    return lines


def run_backend(backend: str, args: argparse.Namespace) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix=f"meetbook-stalls-{backend}-"))
    if backend == "postgresql":
        url = asyncio.run(_create_pg_database(args.pg_admin_url))
    else:
        url = f"sqlite+aiosqlite:///{folder}/stalls.db"
    server = None
    try:
        people, args.team_id = asyncio.run(seed(url))
        port = free_port()
        command = [
            str(Path(sys.executable).parent / "meetbook"),
            *("serve", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", "1", "--no-worker"),
        ]
        # Off for these requests: the probes and sign-ins are far above a person's rate.
        extra = [
            "MEETBOOK_RATE_LIMIT_API=off",
            "MEETBOOK_RATE_LIMIT_TOKEN_ACCOUNT=off",
            "MEETBOOK_RATE_LIMIT_TOKEN_ADDRESS=off",
        ]
        server = Server("meetbook", command, _server_env(url, extra), port, folder, folder / "log")
        server.start()
        args.current = backend
        return asyncio.run(measure(f"http://127.0.0.1:{port}", port, people, args))
    finally:
        if server is not None:
            server.stop()
        if backend == "postgresql":
            asyncio.run(_drop_pg_database(args.pg_admin_url, url))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stalls", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--dribble", type=float, default=15.0, help="seconds of dribbled body")
    parser.add_argument("--sign-ins", type=int, default=10, help="concurrent sign-ins")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    # Production Argon2 for the seeded hashes too (a test shell may have set the cheap one).
    os.environ.pop("MEETBOOK_PASSWORD_HASH_PROFILE", None)
    print(f"meetbook stalls bench; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        for line in run_backend(backend, args):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
