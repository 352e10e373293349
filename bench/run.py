"""The meetbook benchmark: one command, both databases, the ceiling in the same run.

    .venv/bin/python -m bench.run --quick       # ~5 min: 100k meetings, short points
    .venv/bin/python -m bench.run               # ~15 min: 1M meetings, 10 s points
    .venv/bin/python -m bench.run --soak 300    # plus a 5-minute RSS run (PostgreSQL)

For each backend it makes a fresh database (PostgreSQL: CREATE DATABASE on
127.0.0.1:5432, dropped afterwards; SQLite: a temporary file), applies the migrations,
loads the data (bench/generate_data.py), EXPLAINs the hot statements, starts
`meetbook serve --no-worker` and the ceiling app (bench/ceiling_app.py) with the same
worker count, and drives both with wrk over loopback, alternating between them so
that both see the same background noise. Results go to bench/results/<time>/
(`--publish` also copies them to docs/benchmarks/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import explain, report
from bench.generate_data import Dataset, Scale, generate
from bench.procs import (
    PgWaitSampler,
    RssSampler,
    Server,
    cpu_by_pid,
    cpu_delta,
    cpu_seconds,
    free_port,
    machine_busy,
    postgres_pids,
)
from bench.wrk import INSTALL_HINT, WrkResult, run_wrk, wrk_path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks"
SECRET = "bench-" + "s" * 40
DAY = 86400


@dataclass
class Plan:
    meetings: int
    duration: float
    warmup: float  # seconds of unrecorded load at the point's concurrency, before each point
    write_conns: list[int]
    confirm_conns: list[int]
    read_conns: list[int]
    read_extra_conns: list[int]
    repeats: int
    confirm_targets: int


QUICK = Plan(
    meetings=100_000,
    duration=4,
    warmup=1,
    write_conns=[8, 32],
    confirm_conns=[8, 32],
    read_conns=[8],
    read_extra_conns=[],
    repeats=1,
    confirm_targets=15_000,
)
FULL = Plan(
    meetings=1_000_000,
    duration=10,
    warmup=2,
    write_conns=[1, 8, 16, 32],
    confirm_conns=[8, 32],
    read_conns=[8],
    read_extra_conns=[32],
    repeats=1,
    confirm_targets=40_000,
)


@dataclass
class Route:
    name: str
    data: Path
    mode: str  # "create" or "requests"
    path: str
    server: str  # "meetbook" or "ceiling"
    offset: int = 0


@dataclass
class Context:
    args: argparse.Namespace
    plan: Plan
    out: Path
    points: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def log(self, message: str) -> None:
        print(message, flush=True)


# Data files for wrk ---------------------------------------------------------------------


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def write_data_files(folder: Path, data: Dataset, rng: random.Random) -> dict[str, Path]:
    """One file per route: what bench.lua sends, line by line."""
    heavy = set(data.heavy_users)
    ordinary = [u for u in data.tokens if u not in heavy]
    readers = rng.sample(ordinary, min(2000, len(ordinary)))
    writers = rng.sample(ordinary, min(5000, len(ordinary)))
    files: dict[str, Path] = {}

    create = []
    for user in writers:
        team = data.teams_of[user][0]
        recipient = user
        while recipient == user:
            recipient = rng.choice(data.members[team])
        create.append(f"{data.tokens[user]}\t{team}\t{recipient}")
    files["create"] = _write_lines(folder / "create.tsv", create)
    files["confirm"] = _write_lines(
        folder / "confirm.tsv",
        [
            f"POST\t/api/v3/meeting/{meeting}/confirm\t{data.tokens[recipient]}"
            for meeting, recipient in data.confirm_targets
        ],
    )
    now = int(time.time())

    def reads(name: str, make: Any, users: list[int]) -> None:
        lines = [f"GET\t{make(u)}\t{data.tokens[u]}" for u in users]
        files[name] = _write_lines(folder / f"{name}.tsv", lines)

    reads("me (auth floor)", lambda u: "/api/v3/me", readers)
    reads("pending", lambda u: "/api/v3/meeting/pending", readers)
    reads(
        "pending?team_id",
        lambda u: f"/api/v3/meeting/pending?team_id={data.teams_of[u][0]}",
        readers,
    )
    reads("list", lambda u: "/api/v3/meeting/list", readers)
    reads("list?status=confirmed", lambda u: "/api/v3/meeting/list?status=confirmed", readers)
    reads("list?team_id", lambda u: f"/api/v3/meeting/list?team_id={data.teams_of[u][0]}", readers)
    reads("list?role=recipient", lambda u: "/api/v3/meeting/list?role=recipient", readers)
    reads(
        "list?from&to",
        lambda u: f"/api/v3/meeting/list?from={now}&to={now + 30 * DAY}",
        readers,
    )
    reads("list?order=desc", lambda u: "/api/v3/meeting/list?order=desc", readers)
    reads("list heavy p1", lambda u: "/api/v3/meeting/list", data.heavy_users)
    files["details"] = _write_lines(
        folder / "details.tsv",
        [f"GET\t/api/v3/meeting/{m}\t{data.tokens[u]}" for m, u in data.sample_meetings],
    )
    return files


def walk_deep_cursors(base_url: str, data: Dataset, folder: Path, ctx: Context) -> Path:
    """Follow next_cursor through each heavy user's list (100 a page) to ~90% depth."""
    lines = []
    pages = 0
    horizon = int(time.time()) + int(data.scale.future_days * 0.8) * DAY
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for user in data.heavy_users[:5]:
            headers = {"Authorization": f"Bearer {data.tokens[user]}"}
            cursor = None
            for _ in range(2000):
                params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                page = client.get("/api/v3/meeting/list", params=params, headers=headers)
                page.raise_for_status()
                body = page.json()
                pages += 1
                if not body["next_cursor"] or body["data"][-1]["start_time"] > horizon:
                    break
                cursor = body["next_cursor"]
            if cursor:
                query = urllib.parse.urlencode({"cursor": cursor})
                lines.append(f"GET\t/api/v3/meeting/list?{query}\t{data.tokens[user]}")
    ctx.log(
        f"  walked {pages} pages of 100 for {len(lines)} heavy users "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return _write_lines(folder / "list heavy deep.tsv", lines)


# Measuring ------------------------------------------------------------------------------


def measure(
    ctx: Context,
    backend: str,
    server: Server,
    route: Route,
    connections: int,
    duration: float,
    *,
    date_base: int,
    record: bool = True,
    database: str | None = None,
) -> WrkResult:
    if record and ctx.plan.warmup:
        # Unrecorded warm-up at the same concurrency: the pools grow to it first.
        measure(
            ctx,
            backend,
            server,
            route,
            connections,
            ctx.plan.warmup,
            date_base=date_base,
            record=False,
        )
    api = server.api_pids()
    cpu0, pg0, busy0 = cpu_seconds(api), cpu_by_pid(postgres_pids()), machine_busy()
    waits = PgWaitSampler(database or "")
    with RssSampler(server) as sampler, waits if database and record else _Nothing():
        result = run_wrk(
            f"http://127.0.0.1:{server.port}",
            mode=route.mode,
            data=route.data,
            path=route.path,
            connections=connections,
            duration=duration,
            offset=route.offset,
            date_base=date_base,
        )
    cpu1, pg1, busy1 = cpu_seconds(api), cpu_by_pid(postgres_pids()), machine_busy()
    # Never reuse a confirm target or a create date in a later run.
    route.offset += result.requests + connections + 100
    if not record:
        return result
    requests = max(1, result.requests)
    point = {
        "backend": backend,
        "route": route.name,
        "connections": connections,
        **result.to_json(),
        "errors": result.error_count,
        "rss_max_bytes": sampler.max_per_process(),
        "rss_parent_bytes": sampler.parent_rss(),
        "processes": len(api),
        "app_cpu_ms_per_request": (cpu1 - cpu0) * 1000 / requests,
        # Every PostgreSQL process on the server, so other databases' work is included.
        "pg_cpu_ms_per_request": (
            cpu_delta(pg0, pg1) * 1000 / requests if backend == "postgresql" else None
        ),
        "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        "load_avg": os.getloadavg()[0],
        "pg_waits": waits.mean_waiting(),
    }
    ctx.points.append(point)
    lat = result.latency_ms
    ctx.log(
        f"  {backend:<10} {route.name:<28} c={connections:<3} {result.rps:7.0f} req/s"
        f"  p50 {lat['p50']:6.1f}  p99 {lat['p99']:7.1f} ms  errors {result.error_count}"
        f"  RSS {point['rss_max_bytes'] / report.MB:4.0f} MB"
        f"  cpu {point['app_cpu_ms_per_request']:.2f} ms/req  load {point['load_avg']:.1f}"
    )
    if point["pg_waits"]:
        ctx.log(f"    PostgreSQL sessions waiting (mean per sample): {point['pg_waits']}")
    if result.error_count and result.first_errors:
        ctx.log(f"    first error: {result.first_errors[0][:200]}")
    return result


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


# One backend -----------------------------------------------------------------------------


async def _create_pg_database(admin_url: str) -> str:
    import asyncpg

    name = f"meetbook_loadbench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def _drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _server_env(url: str, extra: list[str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETBOOK_")}
    env.update(
        MEETBOOK_DATABASE_URL=url,
        MEETBOOK_SECRET_KEY=SECRET,
        # Benchmarks measure the server, not the per-requester cap on new requests.
        MEETBOOK_RATE_LIMIT_CREATE="off",
        # This tree's src/ first: the venv's editable install may point at another
        # checkout, and the servers must run the code being measured.
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    )
    for item in extra:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def run_backend(ctx: Context, backend: str) -> None:
    args, plan = ctx.args, ctx.plan
    workers = args.pg_workers if backend == "postgresql" else args.sqlite_workers
    folder = ctx.out / backend
    folder.mkdir(parents=True, exist_ok=True)
    # The SQLite file and the servers' working directory live in the results folder,
    # not /tmp, where other jobs on a shared machine may clean up behind our back.
    tmp = Path(tempfile.mkdtemp(prefix="work-", dir=folder))
    if backend == "postgresql":
        url = asyncio.run(_create_pg_database(args.pg_admin_url))
    else:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    ctx.log(f"\n== {backend}: {url} ({workers} API process(es) each for meetbook and ceiling)")
    servers: list[Server] = []
    try:
        from meetbook.migrate import upgrade

        upgrade(url)
        scale = Scale(meetings=plan.meetings, confirm_targets=plan.confirm_targets)
        data = asyncio.run(generate(url, scale, log=ctx.log))
        ctx.log(f"  data loaded in {data.seconds:.0f} s: {data.counts}")
        (folder / "dataset.json").write_text(
            json.dumps(
                {"counts": data.counts, "seconds": data.seconds, "scale": data.to_json()["scale"]}
            )
        )
        started = time.perf_counter()
        explained = asyncio.run(explain.explain_hot_paths(url, SECRET, data))
        (folder / "explain.md").write_text(explain.to_markdown(explained))
        scans = [f"{i.label}: {', '.join(i.full_scans)}" for i in explained.hot_full_scans]
        ctx.log(
            f"  EXPLAINed {len(explained.items)} statements in "
            f"{time.perf_counter() - started:.0f} s; full scans of big tables: {scans or 'none'}"
        )
        if scans:
            ctx.notes.append(f"{backend}: full scans on hot paths: {scans}")

        env = _server_env(url, args.env)
        meetbook_port, ceiling_port = free_port(), free_port()
        meetbook_cmd = [
            str(Path(sys.executable).parent / "meetbook"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(meetbook_port),
            "--workers",
            str(workers),
        ]
        if not args.with_worker:
            meetbook_cmd.append("--no-worker")
        ceiling_cmd = [
            sys.executable,
            "-m",
            "bench.ceiling_app",
            "--port",
            str(ceiling_port),
            "--workers",
            str(workers),
        ]
        meetbook = Server(
            "meetbook", meetbook_cmd, env, meetbook_port, tmp, folder / "meetbook.log"
        )
        ceiling = Server("ceiling", ceiling_cmd, env, ceiling_port, tmp, folder / "ceiling.log")
        for server in (meetbook, ceiling):
            started = time.perf_counter()
            server.start()
            servers.append(server)
            ctx.log(f"  {server.name} up in {time.perf_counter() - started:.0f} s")

        rng = random.Random(7)
        files = write_data_files(folder, data, rng)
        files["list heavy deep"] = walk_deep_cursors(
            f"http://127.0.0.1:{meetbook_port}", data, folder, ctx
        )
        date_base = int(time.time()) + 15 * 365 * DAY
        write_routes = {
            "ceiling": Route("ceiling", files["create"], "create", "/ceiling", "ceiling"),
            "create": Route(
                "create", files["create"], "create", "/api/v3/meeting/create", "meetbook"
            ),
            "confirm": Route("confirm", files["confirm"], "requests", "-", "meetbook"),
        }
        read_routes = [
            Route(name, files[name], "requests", "-", "meetbook")
            for name in (
                "me (auth floor)",
                "pending",
                "pending?team_id",
                "list",
                "list?status=confirmed",
                "list?team_id",
                "list?role=recipient",
                "list?from&to",
                "list?order=desc",
                "list heavy p1",
                "list heavy deep",
                "details",
            )
        ]
        by_name = {"meetbook": meetbook, "ceiling": ceiling}
        database = url.rsplit("/", 1)[1] if backend == "postgresql" else None

        def point(route: Route, connections: int, *, record: bool = True) -> None:
            measure(
                ctx,
                backend,
                by_name[route.server],
                route,
                connections,
                plan.duration if record else max(2.0, plan.warmup),
                date_base=date_base,
                record=record,
                database=database,
            )

        # Warm-up: the pools open and every connection prepares its statements.
        for route in (*write_routes.values(), read_routes[2]):
            point(route, 8, record=False)
        for _ in range(plan.repeats):
            for connections in plan.write_conns:
                # The ceiling and create alternate, so both see the same background noise.
                point(write_routes["ceiling"], connections)
                point(write_routes["create"], connections)
                if connections in plan.confirm_conns:
                    point(write_routes["confirm"], connections)
            for route in read_routes:
                conns = list(plan.read_conns)
                if route.name in ("pending", "list"):
                    conns += plan.read_extra_conns
                for connections in conns:
                    point(route, connections)
        if args.soak and backend == "postgresql":
            soak(ctx, backend, meetbook, write_routes["create"], date_base)
    finally:
        for server in servers:
            server.stop()
        if backend == "postgresql" and not args.keep_db:
            asyncio.run(_drop_pg_database(args.pg_admin_url, url))
        if not args.keep_db:
            shutil.rmtree(tmp, ignore_errors=True)


def soak(ctx: Context, backend: str, server: Server, route: Route, date_base: int) -> None:
    seconds = ctx.args.soak
    ctx.log(f"  soak: create at 32 connections for {seconds} s, RSS every 5 s")
    with RssSampler(server, interval=5.0) as sampler:
        result = run_wrk(
            f"http://127.0.0.1:{server.port}",
            mode=route.mode,
            data=route.data,
            path=route.path,
            connections=32,
            duration=seconds,
            offset=route.offset,
            date_base=date_base,
        )
    route.offset += result.requests + 200
    summary = report.summarize_soak(sampler.samples)
    summary.update(
        backend=backend,
        seconds=seconds,
        rps=result.rps,
        errors=result.error_count,
        latency_ms=result.latency_ms,
        samples=[[t, {str(k): v for k, v in s.items()}] for t, s in sampler.samples],
    )
    (ctx.out / "soak.json").write_text(json.dumps(summary, indent=1))
    for proc in summary.get("processes", []):
        ctx.log(
            f"    pid {proc['pid']}: {proc['first_mb']:.0f} MB at start, "
            f"{proc['early_mb']:.0f} MB early, {proc['late_mb']:.0f} MB late "
            f"(growth {proc['growth_mb']:+.1f} MB), max {proc['max_mb']:.0f} MB"
        )
    ctx.log(
        f"    {result.rps:.0f} req/s, p99 {result.latency_ms['p99']:.1f} ms, "
        f"errors {result.error_count}"
    )


# Targets ---------------------------------------------------------------------------------


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    def row(backend: str, route: str, conns: int) -> dict[str, Any] | None:
        return next(
            (
                r
                for r in rows
                if (r["backend"], r["route"], r["connections"]) == (backend, route, conns)
            ),
            None,
        )

    out = []

    def check(label: str, ok: bool, detail: str) -> None:
        out.append(f"{'MET ' if ok else 'MISS'}  {label}: {detail}")

    # Issue #15's targets: writes against the ceiling at each concurrency measured, reads
    # at 8 connections, /me (the authentication floor) higher.
    for r in rows:
        ratio = r["ratio"] or 0
        label = f"{'PG' if r['backend'] == 'postgresql' else 'SQLite'} {r['route']}"
        conns = r["connections"]
        if r["route"] in ("create", "confirm") and conns in (8, 32):
            floor = 0.4 if r["backend"] == "postgresql" else 0.5
            if r["backend"] == "sqlite" and r["route"] == "confirm":
                continue  # the issue names SQLite's create only
            check(f"{label} ≥ {floor}× ceiling at {conns} conns", ratio >= floor, f"{ratio:.2f}×")
        elif r["route"] not in ("ceiling", "create", "confirm") and conns == 8:
            if r["backend"] == "postgresql":
                floor = 0.85 if r["route"].startswith("me") else 0.7
                check(f"{label} ≥ {floor}× ceiling at 8 conns", ratio >= floor, f"{ratio:.2f}×")
            else:
                p99 = r["latency_ms"]["p99"]
                check(f"{label} p99 ≤ 50 ms at 8 conns", p99 <= 50, f"p99 {p99:.1f} ms")
    first, deep = row("postgresql", "list heavy p1", 8), row("postgresql", "list heavy deep", 8)
    if first and deep:
        # CPU per request is what the page costs; latency also carries the machine's noise.
        cpu = deep["app_cpu_ms_per_request"] / max(0.001, first["app_cpu_ms_per_request"])
        lat = deep["latency_ms"]["p50"] / max(0.001, first["latency_ms"]["p50"])
        check(
            "PG deep page as cheap as the first (CPU/request within 25%)",
            cpu <= 1.25,
            f"deep/first: CPU {cpu:.2f}, p50 {lat:.2f}",
        )
    for r in rows:
        if r["errors"]:
            check(
                f"{r['backend']} {r['route']} c={r['connections']} without errors",
                False,
                f"{r['errors']} errors {r['statuses']}",
            )
    for backend, name in (("postgresql", "PG"), ("sqlite", "SQLite")):
        rss = max((r["rss_max_bytes"] for r in rows if r["backend"] == backend), default=0)
        if rss:
            check(
                f"{name} RSS per API process ≤ 150 MB",
                rss <= 150 * report.MB,
                f"{rss / report.MB:.0f} MB",
            )
    return out


# Main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="100k meetings, 4 s points (~5 min)")
    size.add_argument("--full", action="store_true", help="1M meetings, 10 s points (default)")
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--meetings", type=int, help="override the plan's meeting count")
    parser.add_argument("--duration", type=float, help="seconds per measured point")
    parser.add_argument("--repeats", type=int, help="repeat every point; the median is reported")
    parser.add_argument("--pg-workers", type=int, default=2, help="API processes on PostgreSQL")
    parser.add_argument("--sqlite-workers", type=int, default=1, help="API processes on SQLite")
    parser.add_argument(
        "--with-worker",
        action="store_true",
        help="run the notification worker inside the API processes",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="SECONDS",
        help="after the points, a long create run watching RSS (PostgreSQL)",
    )
    parser.add_argument(
        "--pg-admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for both servers (A/B experiments)",
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results/<time>)")
    parser.add_argument(
        "--publish",
        action="store_true",
        help="also copy the results, plot and EXPLAINs to docs/benchmarks/",
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)

    if wrk_path() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    base = QUICK if args.quick else FULL
    plan = Plan(**{**base.__dict__})
    if args.meetings is not None:
        plan.meetings = args.meetings
    if args.duration is not None:
        plan.duration = args.duration
    if args.repeats is not None:
        plan.repeats = args.repeats
    out = args.out or ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(args=args, plan=plan, out=out)
    started = time.perf_counter()
    ctx.log(
        f"meetbook bench: plan {plan}; load average now {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs; results in {out}"
    )
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        run_backend(ctx, backend)

    rows = report.median_points(ctx.points)
    order = {"ceiling": 0, "create": 1, "confirm": 2}
    rows.sort(
        key=lambda r: (
            r["backend"] != "postgresql",
            order.get(r["route"], 3),
            r["route"],
            r["connections"],
        )
    )
    table = report.console_table(rows)
    checks = verdicts(rows)
    elapsed = time.perf_counter() - started
    meta = {
        "plan": plan.__dict__,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "cpus": os.cpu_count(),
        "elapsed_s": elapsed,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "notes": ctx.notes,
        "verdicts": checks,
    }
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "points": ctx.points, "rows": rows}, indent=1)
    )
    (out / "table.md").write_text(report.markdown_table(rows) + "\n")
    png = report.plot(rows, out / "throughput.png")
    print("\n" + table + "\n")
    print("\n".join(checks))
    print(f"\nfinished in {elapsed / 60:.1f} min; results in {out}")
    if png is None:
        print("(no plot: matplotlib is missing; install the `bench` extra)")
    if args.publish:
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "table.md", "throughput.png", "soak.json"):
            if (out / name).exists():
                shutil.copy(out / name, DOCS / name)
        for backend_dir in out.iterdir():
            if (backend_dir / "explain.md").exists():
                shutil.copy(backend_dir / "explain.md", DOCS / f"explain-{backend_dir.name}.md")
        print(f"published to {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
