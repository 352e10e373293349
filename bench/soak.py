"""A bounded soak: mixed load on `meetbook serve` with its worker and a local SMTP sink.

For `--duration` seconds, clients create meetings, confirm, reject and cancel them, and
read lists, against a real `meetbook serve` (notification worker in-process) on a fresh
database, its SMTP pointed at an aiosmtpd sink on 127.0.0.1. VmRSS of every server
process is sampled from /proc throughout. Afterwards, once the outbox has drained:

* every meeting has exactly the emails its changes call for, counted by Message-ID at
  the sink (created: 1 to the recipient; confirmed: 2, one each; rejected: 1 to the
  requester; cancelled: 1 to the other participant, 2 if it was confirmed);
* no answer was a 5xx, and every request was answered;
* the RSS series of each process is printed; `tests/reliability/test_soak.py` runs the
  same for ~30 s and bounds its growth.

    .venv/bin/python -m bench.soak --duration 300                    # SQLite
    .venv/bin/python -m bench.soak --duration 300 --backend postgres --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/soak.py`: make `bench` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.harness import (
    MESSAGE_ID,
    MessageIdSink,
    Outcome,
    Person,
    Server,
    SmtpSink,
    api_client,
    expected_recipients,
    fresh_database,
    percentile,
    query,
    rss_kib,
    seed_team,
    timed,
)

# Operation mix of each client (weights).
MIX = {"create": 35, "confirm": 15, "reject": 5, "cancel": 10, "list": 20, "pending": 10, "get": 5}
DRAIN_SECONDS = 120.0


@dataclass
class Tracked:
    requester: Person
    recipient: Person
    status: str = "pending"
    changes: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class SoakReport:
    backend: str
    seconds: float
    outcomes: list[Outcome]
    meetings: dict[int, Tracked]
    rss: dict[int, list[tuple[float, int]]]  # pid -> [(seconds since start, KiB)]
    notifications: int = 0
    deliveries: int = 0
    duplicates: int = 0
    drain_seconds: float = 0.0
    mismatches: list[str] = field(default_factory=list)
    exit_status: int | None = None
    shutdown_complete: int = 0  # API processes that logged a clean shutdown
    logged_sent: int = 0  # `notification.sent` lines in the server's JSON log

    @property
    def five_xx(self) -> int:
        return sum(1 for o in self.outcomes if o.status is not None and o.status >= 500)

    @property
    def unanswered(self) -> int:
        return sum(1 for o in self.outcomes if o.status is None)

    def rss_growth_kib(self, pid: int) -> int:
        """Median of the last three samples minus the median of the three at one third of
        the run (after warm-up: imports, pools and caches filled)."""
        series = [kib for _, kib in self.rss[pid]]
        if len(series) < 6:
            return 0
        third = len(series) // 3
        return int(statistics.median(series[-3:]) - statistics.median(series[third : third + 3]))

    def lines(self) -> list[str]:
        codes = Counter(f"{o.kind} {o.status}" for o in self.outcomes)
        out = [
            f"soak on {self.backend}: {self.seconds:.0f} s, {len(self.outcomes)} requests "
            f"({len(self.outcomes) / self.seconds:.1f}/s), {self.five_xx} 5xx, "
            f"{self.unanswered} unanswered",
            "  answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())),
        ]
        by_kind: dict[str, list[float]] = defaultdict(list)
        for o in self.outcomes:
            by_kind[o.kind].append(o.seconds * 1000)
        for kind, values in sorted(by_kind.items()):
            out.append(
                f"  {kind:<8} n={len(values):<6} p50 {percentile(values, 0.5):7.1f} ms  "
                f"p99 {percentile(values, 0.99):7.1f} ms  max {max(values):7.1f} ms"
            )
        statuses = Counter(t.status for t in self.meetings.values())
        out.append(
            f"  meetings {len(self.meetings)} {dict(statuses)}; notifications "
            f"{self.notifications}, emails at the sink {self.deliveries} "
            f"(duplicates {self.duplicates}), outbox drained {self.drain_seconds:.1f} s after "
            f"the load; mismatched meetings {len(self.mismatches)}; "
            f"notification.sent log lines {self.logged_sent}"
        )
        for pid, series in self.rss.items():
            values = " ".join(f"{t:.0f}s:{kib / 1024:.1f}" for t, kib in series)
            out.append(
                f"  RSS pid {pid} (MiB): {values}  growth after warm-up "
                f"{self.rss_growth_kib(pid) / 1024:+.1f} MiB"
            )
        return out


class Clients:
    """The load: `count` closed-loop clients over one team, until `deadline`."""

    def __init__(self, server: Server, team_id: int, people: list[Person], seed: int) -> None:
        self.server = server
        self.team_id = team_id
        self.people = people
        self.rng = random.Random(seed)
        self.outcomes: list[Outcome] = []
        self.meetings: dict[int, Tracked] = {}

    async def run(self, count: int, deadline: float, think: float) -> None:
        async with api_client(self.server.url, timeout=60) as http:
            await asyncio.gather(*(self._client(http, deadline, think) for _ in range(count)))

    async def _client(self, http: Any, deadline: float, think: float) -> None:
        kinds, weights = zip(*MIX.items(), strict=True)
        for _ in range(1_000_000):
            if time.monotonic() >= deadline:
                return
            await self._one(http, self.rng.choices(kinds, weights)[0])
            await asyncio.sleep(think)

    def _pick(self, statuses: tuple[str, ...]) -> tuple[int, Tracked] | None:
        candidates = [(i, t) for i, t in self.meetings.items() if t.status in statuses]
        return self.rng.choice(candidates[-50:]) if candidates else None

    async def _one(self, http: Any, kind: str) -> None:
        rng = self.rng
        if kind == "create" or (kind in ("confirm", "reject", "cancel") and not self.meetings):
            by, to = rng.sample(self.people, 2)
            start = datetime.now(UTC) + timedelta(
                days=rng.randint(2, 720), hours=rng.randint(0, 23)
            )
            body = {
                "user_id": to.id,
                "team_id": self.team_id,
                "date": start.strftime("%Y-%m-%dT%H:00:00Z"),
            }
            outcome = await timed(
                http, "create", "POST", "/api/v3/meeting/create", json=body, headers=by.auth
            )
            if outcome.status == 201:
                self.meetings[outcome.body["id"]] = Tracked(by, to)
        elif kind in ("confirm", "reject", "cancel"):
            found = self._pick(("pending", "confirmed") if kind == "cancel" else ("pending",))
            if found is None:
                return
            meeting_id, tracked = found
            actor = tracked.recipient
            if kind == "cancel" and rng.random() < 0.5:
                actor = tracked.requester
            outcome = await timed(
                http, kind, "POST", f"/api/v3/meeting/{meeting_id}/{kind}", headers=actor.auth
            )
            if outcome.status == 200:
                tracked.status = outcome.body["status"]
                tracked.changes.append((kind, actor.id))
        elif kind == "get" and self.meetings:
            meeting_id, tracked = rng.choice(list(self.meetings.items())[-200:])
            outcome = await timed(
                http, kind, "GET", f"/api/v3/meeting/{meeting_id}", headers=tracked.requester.auth
            )
        elif kind == "pending":
            person = rng.choice(self.people)
            outcome = await timed(http, kind, "GET", "/api/v3/meeting/pending", headers=person.auth)
        else:
            person = rng.choice(self.people)
            params = {"limit": 50, "order": rng.choice(["asc", "desc"])}
            outcome = await timed(
                http, "list", "GET", "/api/v3/meeting/list", params=params, headers=person.auth
            )
        self.outcomes.append(outcome)


async def _sample_rss(
    server: Server, series: dict[int, list[tuple[float, int]]], began: float, every: float
) -> None:
    for _ in range(1_000_000):  # cancelled by the caller when the run ends
        for pid in server.pids():
            kib = rss_kib(pid)
            if kib is not None:
                series.setdefault(pid, []).append((time.monotonic() - began, kib))
        await asyncio.sleep(every)


async def _drain(database_url: str, timeout: float) -> float:
    """Seconds until no notification is pending (bounded by `timeout`).

    Timed notices (reminders, the "still waiting" nudge) are planned for later, and those
    of meetings that changed are cancelled: only what the changes sent at once counts.
    """
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        rows = await query(
            database_url,
            "SELECT count(*) FROM notifications WHERE status <> 'sent' AND schedule_key IS NULL",
        )
        if rows[0][0] == 0:
            return time.monotonic() - began
        await asyncio.sleep(0.25)
    raise TimeoutError(f"the outbox did not drain within {timeout} s")


async def _check_emails(report: SoakReport, database_url: str, sink: MessageIdSink) -> None:
    rows = await query(
        database_url, "SELECT id, meeting_id, event FROM notifications WHERE schedule_key IS NULL"
    )
    emails = dict(await query(database_url, "SELECT id, email FROM users"))
    stored = {row[0] for row in await query(database_url, "SELECT id FROM meetings")}
    event_of = {row[0]: row[2] for row in rows}
    counts = sink.counts()
    report.notifications = len(rows)
    report.deliveries = sum(counts.values())
    report.duplicates = sum(n - 1 for n in counts.values())
    got: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for message_id, n in counts.items():
        found = MESSAGE_ID.fullmatch(message_id)
        if found is None or int(found.group(1)) not in event_of:
            report.mismatches.append(f"unknown Message-ID {message_id}")
            continue
        address = next(d.to for d in sink.snapshot() if d.message_id == message_id)
        key = (event_of[int(found.group(1))], address.split("<")[-1].rstrip(">"))
        got[int(found.group(2))][key] += n
    if stored != set(report.meetings):
        report.mismatches.append(
            f"meetings in the database {len(stored)} != created {len(report.meetings)}"
        )
    for meeting_id, tracked in report.meetings.items():
        wanted = expected_recipients(tracked.requester.id, tracked.recipient.id, tracked.changes)
        expected = Counter({(event, emails[user]): n for (event, user), n in wanted.items()})
        if got[meeting_id] != expected:
            report.mismatches.append(
                f"meeting {meeting_id} {tracked.changes}: got {dict(got[meeting_id])}, "
                f"expected {dict(expected)}"
            )


async def run_soak(
    database_url: str,
    workdir: Path,
    *,
    duration: float,
    clients: int = 6,
    workers: int = 1,
    think: float = 0.02,
    sample_every: float = 2.0,
) -> SoakReport:
    """Run the soak against a fresh, migrated database; the report holds every figure."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    sink = MessageIdSink()
    controller = SmtpSink(sink)
    controller.start()
    server = Server(
        database_url,
        workdir,
        workers=workers,
        run_worker=True,
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_timeout=10,
    )
    rss: dict[int, list[tuple[float, int]]] = {}
    try:
        team_id, people = await seed_team(database_url, 12)
        server.start()
        await server.wait_ready()
        began = time.monotonic()
        sampler = asyncio.create_task(_sample_rss(server, rss, began, sample_every))
        load = Clients(server, team_id, people, seed=7)
        try:
            await load.run(clients, began + duration, think)
            seconds = time.monotonic() - began
            drain = await _drain(database_url, DRAIN_SECONDS)
            await asyncio.sleep(sample_every)  # one more sample with the system idle
        finally:
            sampler.cancel()
        report = SoakReport(backend, seconds, load.outcomes, load.meetings, rss)
        report.drain_seconds = drain
        await _check_emails(report, database_url, sink)
    finally:
        exit_status = server.stop()
        controller.stop()
    report.exit_status = exit_status
    log = server.log_text()
    report.shutdown_complete = log.count("Application shutdown complete")
    report.logged_sent = log.count('"event": "notification.sent"')
    return report


async def _main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="meetbook-soak-"))
    print(f"soak: {args.duration:.0f} s on {args.backend}, logs in {workdir}", flush=True)
    async with fresh_database(args.backend, workdir, admin_url=args.pg_admin_url) as url:
        report = await run_soak(
            url,
            workdir,
            duration=args.duration,
            clients=args.clients,
            workers=args.workers,
            sample_every=args.sample_every,
        )
    print("\n".join(report.lines()))
    for line in report.mismatches[:20]:
        print("  MISMATCH", line)
    ok = not report.mismatches and report.five_xx == 0 and report.unanswered == 0
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--sample-every", type=float, default=5.0, help="RSS sample period")
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        help="a server where this user may create (and drop) a database",
    )
    raise SystemExit(asyncio.run(_main(parser.parse_args())))


if __name__ == "__main__":
    main()
