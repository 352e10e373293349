"""Load an organisation's worth of history into a migrated meetbook database, fast.

Default scale: 1,000,000 meetings over 10,000 users in 200 teams (every user in one
team, every tenth in a second one), one sent email notification per meeting, a busy
slot per participant of every confirmed meeting, and one API token per user. Ten
"heavy" users take part in a fifth of all meetings (about 20,000 each) so that deep
cursor pages exist. On top of that, `confirm_targets` pending meetings in a reserved
far-future window, one hour apart, are made for the confirm benchmark: confirming
any of them can never overlap anything.

PostgreSQL rows go in with COPY (asyncpg `copy_records_to_table`), SQLite rows with
batched `executemany` in one transaction; then VACUUM/ANALYZE so the planner sees the
real distribution.

    python -m bench.generate_data postgresql+asyncpg://postgres@127.0.0.1/bench_x
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from meetbook.meetings.booking import new_booking_number

HOUR = 3600
DAY = 24 * HOUR
ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Europe/London",
)


@dataclass(frozen=True)
class Scale:
    meetings: int = 1_000_000
    users: int = 10_000
    teams: int = 200
    heavy_users: int = 10
    heavy_share: float = 0.2
    past_days: int = 730
    future_days: int = 365
    confirm_targets: int = 40_000
    notifications: bool = True
    seed: int = 6


@dataclass
class Dataset:
    """What the load generator needs to know about the generated data."""

    scale: Scale
    now: int
    tokens: dict[int, str]  # user id -> bearer token
    teams_of: dict[int, list[int]]  # user id -> team ids
    members: dict[int, list[int]]  # team id -> user ids
    heavy_users: list[int]
    confirm_targets: list[tuple[int, int]]  # (meeting id, recipient id), pending
    sample_meetings: list[tuple[int, int]]  # (meeting id, a participant), for details
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tokens"] = {str(k): v for k, v in self.tokens.items()}
        out["teams_of"] = {str(k): v for k, v in self.teams_of.items()}
        out["members"] = {str(k): v for k, v in self.members.items()}
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Dataset:
        return cls(
            scale=Scale(**raw["scale"]),
            now=raw["now"],
            tokens={int(k): v for k, v in raw["tokens"].items()},
            teams_of={int(k): v for k, v in raw["teams_of"].items()},
            members={int(k): v for k, v in raw["members"].items()},
            heavy_users=raw["heavy_users"],
            confirm_targets=[tuple(x) for x in raw["confirm_targets"]],  # type: ignore[misc]
            sample_meetings=[tuple(x) for x in raw["sample_meetings"]],  # type: ignore[misc]
            counts=raw["counts"],
            seconds=raw["seconds"],
        )


# Rows -----------------------------------------------------------------------------------

USER_COLUMNS = ("id", "email", "name", "timezone", "password_hash", "created_at")
TEAM_COLUMNS = ("id", "name", "created_at", "max_days_ahead")
# The bench's creates are dated 15 years ahead (past all the generated meetings, so none
# overlaps one): its teams take bookings that far ahead (the default horizon is 730 days).
TEAM_HORIZON_DAYS = 36_500
MEMBER_COLUMNS = ("team_id", "user_id", "role", "created_at")
TOKEN_COLUMNS = (
    "id",
    "user_id",
    "name",
    "token_hash",
    "created_at",
    "last_used_at",
    "revoked_at",
)
MEETING_COLUMNS = (
    "id",
    "booking_number",
    "requester_id",
    "recipient_id",
    "team_id",
    "timezone",
    "start_time",
    "end_time",
    "link",
    "status",
    "reason",
    "created_at",
    "updated_at",
)
SLOT_COLUMNS = ("meeting_id", "user_id", "start_time", "end_time")
NOTIFICATION_COLUMNS = (
    "id",
    "event",
    "meeting_id",
    "user_id",
    "channel",
    "device_id",
    "context",
    "status",
    "attempts",
    "next_attempt_at",
    "lease_owner",
    "lease_expires_at",
    "last_error",
    "sent_at",
    "created_at",
)

PAST_STATUSES = (("confirmed", 0.55), ("expired", 0.1), ("rejected", 0.15), ("cancelled", 0.2))
FUTURE_STATUSES = (("pending", 0.45), ("confirmed", 0.35), ("rejected", 0.1), ("cancelled", 0.1))


def _moment(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _Generator:
    def __init__(self, scale: Scale, now: int) -> None:
        self.scale = scale
        self.now = now
        self.rng = random.Random(scale.seed)
        self.start = _moment(now - scale.past_days * DAY - 30 * DAY)
        self.teams_of: dict[int, list[int]] = {}
        self.members: dict[int, list[int]] = {t: [] for t in range(1, scale.teams + 1)}
        for user in range(1, scale.users + 1):
            primary = (user - 1) % scale.teams + 1
            teams = [primary]
            if user % 10 == 0:
                teams.append((primary + scale.teams // 2 - 1) % scale.teams + 1)
            self.teams_of[user] = teams
            for team in teams:
                self.members[team].append(user)
        self.heavy = list(range(1, scale.heavy_users + 1))
        self.tokens = {
            user: f"mb_bench_{user}_{self.rng.getrandbits(64):016x}"
            for user in range(1, scale.users + 1)
        }
        self.zone_of = {user: ZONES[user % len(ZONES)] for user in range(1, scale.users + 1)}
        self.busy: set[tuple[int, int]] = set()  # (user, hour slot) of confirmed meetings
        self.booking_numbers: set[str] = set()
        self.slots: list[tuple[Any, ...]] = []
        self.confirm_targets: list[tuple[int, int]] = []
        self.sample: list[tuple[int, int]] = []

    def users(self) -> Iterator[tuple[Any, ...]]:
        for user in range(1, self.scale.users + 1):
            yield (
                user,
                f"bench-user-{user}@example.test",
                f"Bench User {user}",
                self.zone_of[user],
                None,
                self.start,
            )

    def teams(self) -> Iterator[tuple[Any, ...]]:
        for team in range(1, self.scale.teams + 1):
            yield (team, f"Bench Team {team}", self.start, TEAM_HORIZON_DAYS)

    def memberships(self) -> Iterator[tuple[Any, ...]]:
        for team, users in self.members.items():
            for user in users:
                yield (team, user, "member", self.start)

    def api_tokens(self) -> Iterator[tuple[Any, ...]]:
        for user, token in self.tokens.items():
            digest = hashlib.sha256(token.encode()).hexdigest()
            yield (user, user, "bench", digest, self.start, None, None)

    def _booking_number(self) -> str:
        while True:
            number = new_booking_number()
            if number not in self.booking_numbers:
                self.booking_numbers.add(number)
                return number

    def _pair(self) -> tuple[int, int, int]:
        """(team, requester, recipient)."""
        rng = self.rng
        if rng.random() < self.scale.heavy_share:
            heavy = rng.choice(self.heavy)
            team = self.teams_of[heavy][0]
            other = heavy
            while other == heavy:
                other = rng.choice(self.members[team])
            return (team, heavy, other) if rng.random() < 0.5 else (team, other, heavy)
        team = rng.randint(1, self.scale.teams)
        requester, recipient = rng.sample(self.members[team], 2)
        return team, requester, recipient

    @staticmethod
    def _pick(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
        roll = rng.random()
        for status, weight in table:
            roll -= weight
            if roll < 0:
                return status
        return table[-1][0]

    def meetings(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        now_hour = self.now - self.now % HOUR
        first = -self.scale.past_days * 24
        last = self.scale.future_days * 24
        for meeting_id in range(1, self.scale.meetings + 1):
            team, requester, recipient = self._pair()
            hour = rng.randint(first, last)
            if hour == 0:
                hour = 1
            start = now_hour + hour * HOUR
            status = self._pick(rng, PAST_STATUSES if start <= self.now else FUTURE_STATUSES)
            slot = start // HOUR
            if status == "confirmed":
                if (requester, slot) in self.busy or (recipient, slot) in self.busy:
                    status = "cancelled"
                else:
                    self.busy.add((requester, slot))
                    self.busy.add((recipient, slot))
                    self.slots.append((meeting_id, requester, start, start + HOUR))
                    self.slots.append((meeting_id, recipient, start, start + HOUR))
            created = min(start - rng.randint(1, 30 * 24) * HOUR, self.now - HOUR)
            updated = created if status == "pending" else min(created + HOUR, self.now)
            link = f"https://meet.example.test/{meeting_id}" if meeting_id % 2 else None
            reason = (
                "Busy then." if status in ("rejected", "cancelled") and rng.random() < 0.3 else None
            )
            if rng.random() < 0.002:
                self.sample.append((meeting_id, requester if rng.random() < 0.5 else recipient))
            yield (
                meeting_id,
                self._booking_number(),
                requester,
                recipient,
                team,
                self.zone_of[recipient],
                start,
                start + HOUR,
                link,
                status,
                reason,
                _moment(created),
                _moment(updated),
            )
        # Confirm targets: one per hour in a window after all the history.
        base = now_hour + (self.scale.future_days + 30) * DAY
        for k in range(self.scale.confirm_targets):
            meeting_id = self.scale.meetings + 1 + k
            team = rng.randint(1, self.scale.teams)
            requester, recipient = rng.sample(self.members[team], 2)
            start = base + k * HOUR
            self.confirm_targets.append((meeting_id, recipient))
            yield (
                meeting_id,
                self._booking_number(),
                requester,
                recipient,
                team,
                self.zone_of[recipient],
                start,
                start + HOUR,
                None,
                "pending",
                None,
                _moment(self.now - DAY),
                _moment(self.now - DAY),
            )

    def notifications(self, meetings: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """One delivered `meeting-created` email per meeting: the outbox's history."""
        for row in meetings:
            created = row[11]
            yield (
                row[0],
                "meeting-created",
                row[0],
                row[3],
                "email",
                None,
                json.dumps({"actor_id": row[2]}),
                "sent",
                1,
                created,
                None,
                None,
                None,
                created + timedelta(seconds=2),
                created,
            )

    def dataset(self, counts: dict[str, int], seconds: float) -> Dataset:
        return Dataset(
            scale=self.scale,
            now=self.now,
            tokens=self.tokens,
            teams_of=self.teams_of,
            members=self.members,
            heavy_users=self.heavy,
            confirm_targets=self.confirm_targets,
            sample_meetings=self.sample,
            counts=counts,
            seconds=seconds,
        )


# Loading ---------------------------------------------------------------------------------


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _load_postgres(url: str, gen: _Generator, log: Any) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url))
    counts: dict[str, int] = {}
    try:
        await conn.execute("SET synchronous_commit = off")
        # The rows are consistent by construction: skip the per-row foreign-key triggers
        # during the load (superuser only, as on the bench's own database).
        await conn.execute("SET session_replication_role = replica")

        async def copy(table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
            started = time.perf_counter()
            await conn.copy_records_to_table(table, records=rows, columns=list(columns))
            counts[table] = len(rows)
            log(f"  COPY {table}: {len(rows):,} rows in {time.perf_counter() - started:.1f} s")

        await copy("users", USER_COLUMNS, list(gen.users()))
        await copy("teams", TEAM_COLUMNS, list(gen.teams()))
        await copy("team_members", MEMBER_COLUMNS, list(gen.memberships()))
        await copy("api_tokens", TOKEN_COLUMNS, list(gen.api_tokens()))
        meetings = list(gen.meetings())
        # Secondary indexes are dropped for the bulk load and rebuilt from their own
        # definitions (pg_indexes), which is several times faster than maintaining them
        # row by row; constraint-backed indexes stay.
        indexes = await _drop_plain_indexes(conn, ("meetings", "notifications", "busy_slots"))
        exclusions = await _drop_exclusion_constraints(conn)
        await copy("meetings", MEETING_COLUMNS, meetings)
        await copy("busy_slots", SLOT_COLUMNS, gen.slots)
        if gen.scale.notifications:
            await copy("notifications", NOTIFICATION_COLUMNS, list(gen.notifications(meetings)))
        started = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for definition in indexes + exclusions:
            await conn.execute(definition)
        await conn.execute("SET session_replication_role = origin")
        log(
            f"  rebuilt {len(indexes)} indexes and {len(exclusions)} exclusion constraints"
            f" in {time.perf_counter() - started:.1f} s"
        )
        for table in ("users", "teams", "api_tokens", "meetings", "notifications"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        log(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    finally:
        await conn.close()
    return counts


async def _drop_plain_indexes(conn: Any, tables: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """,
        list(tables),
    )
    for row in rows:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def _drop_exclusion_constraints(conn: Any) -> list[str]:
    """Drop EXCLUDE constraints; re-adding one builds its index once and checks every row."""
    rows = await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
        FROM pg_constraint c WHERE c.contype = 'x' AND c.connamespace = 'public'::regnamespace
        """
    )
    for row in rows:
        await conn.execute(f'ALTER TABLE {row["tbl"]} DROP CONSTRAINT "{row["conname"]}"')
    return [f'ALTER TABLE {r["tbl"]} ADD CONSTRAINT "{r["conname"]}" {r["def"]}' for r in rows]


def _load_sqlite(url: str, gen: _Generator, log: Any) -> dict[str, int]:
    path = url.split(":///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None)
    counts: dict[str, int] = {}

    def naive(value: Any) -> Any:
        # meetbook stores UTC datetimes naive on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff").
        if isinstance(value, datetime):
            return value.replace(tzinfo=None).isoformat(" ", timespec="microseconds")
        return value

    def insert(table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        batch = 20_000
        for offset in range(0, len(rows), batch):
            conn.executemany(sql, [tuple(map(naive, r)) for r in rows[offset : offset + batch]])
        counts[table] = len(rows)
        log(f"  INSERT {table}: {len(rows):,} rows in {time.perf_counter() - started:.1f} s")

    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("BEGIN")
        insert("users", USER_COLUMNS, list(gen.users()))
        insert("teams", TEAM_COLUMNS, list(gen.teams()))
        insert("team_members", MEMBER_COLUMNS, list(gen.memberships()))
        insert("api_tokens", TOKEN_COLUMNS, list(gen.api_tokens()))
        indexes = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('meetings', 'notifications', 'busy_slots')"
            )
        ]
        names = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN ('meetings', 'notifications', 'busy_slots')"
            )
        ]
        for name in names:
            conn.execute(f'DROP INDEX "{name}"')
        meetings = list(gen.meetings())
        insert("meetings", MEETING_COLUMNS, meetings)
        insert("busy_slots", SLOT_COLUMNS, gen.slots)
        if gen.scale.notifications:
            insert("notifications", NOTIFICATION_COLUMNS, list(gen.notifications(meetings)))
        started = time.perf_counter()
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        log(f"  rebuilt {len(indexes)} indexes in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log(f"  ANALYZE in {time.perf_counter() - started:.1f} s")
    finally:
        conn.close()
    return counts


async def generate(url: str, scale: Scale, *, log: Any = print) -> Dataset:
    """Fill the (migrated, empty) database at `url`; return what the benchmark needs."""
    started = time.perf_counter()
    now = int(time.time())
    gen = _Generator(scale, now)
    if url.startswith("postgresql"):
        counts = await _load_postgres(url, gen, log)
    else:
        counts = await asyncio.to_thread(_load_sqlite, url, gen, log)
    return gen.dataset(counts, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fill a migrated meetbook database.")
    parser.add_argument("url", help="postgresql+asyncpg://... or sqlite+aiosqlite:///path")
    parser.add_argument("--meetings", type=int, default=Scale.meetings)
    parser.add_argument("--users", type=int, default=Scale.users)
    parser.add_argument("--teams", type=int, default=Scale.teams)
    parser.add_argument("--confirm-targets", type=int, default=Scale.confirm_targets)
    parser.add_argument("--no-notifications", action="store_true")
    parser.add_argument("--manifest", type=Path, help="write the dataset summary (JSON) here")
    args = parser.parse_args()
    from meetbook.migrate import upgrade

    upgrade(args.url)
    scale = Scale(
        meetings=args.meetings,
        users=args.users,
        teams=args.teams,
        confirm_targets=args.confirm_targets,
        notifications=not args.no_notifications,
    )
    dataset = asyncio.run(generate(args.url, scale))
    print(f"generated {dataset.counts} in {dataset.seconds:.1f} s")
    if args.manifest:
        args.manifest.write_text(json.dumps(dataset.to_json()))


if __name__ == "__main__":
    main()
