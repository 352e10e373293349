"""EXPLAIN every statement of meetbook's hot paths, as meetbook itself issues them.

The statements are captured from meetbook's own code (the query and service functions
the routes call) running against the benchmark database, so the plans are those of the
real SQL with real parameters. PostgreSQL gets `EXPLAIN (ANALYZE, BUFFERS)` (writes
inside a transaction that is rolled back), SQLite `EXPLAIN QUERY PLAN`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bench.generate_data import Dataset
from meetbook.auth.tokens import user_for_token
from meetbook.config import Settings
from meetbook.db import create_engine, create_sessionmaker
from meetbook.meetings import queries, service
from meetbook.meetings.schemas import MeetingCreate
from meetbook.models import User, utcnow

# Tables big enough that a sequential scan of one is a bug on a hot path.
BIG_TABLES = ("meetings", "notifications", "busy_slots", "api_tokens", "users", "team_members")


@dataclass
class Explained:
    label: str
    statement: str
    plan: str
    execution_ms: float | None
    full_scans: list[str]


@dataclass
class ExplainReport:
    backend: str
    items: list[Explained] = field(default_factory=list)
    # Statements each path sends (duplicates included), before BEGIN/COMMIT and the
    # pool's pre-ping; every API route also sends the token lookup first.
    statement_counts: dict[str, int] = field(default_factory=dict)

    @property
    def hot_full_scans(self) -> list[Explained]:
        return [item for item in self.items if item.full_scans]


def _short_sql(statement: str) -> str:
    """The statement with a long select list folded, for reading."""
    text = " ".join(statement.split())
    text = re.sub(
        r"^SELECT (.{80,}?) FROM ",
        lambda m: f"SELECT <{m.group(1).count(',') + 1} columns> FROM ",
        text,
    )
    text = re.sub(
        r"RETURNING (.{60,})$",
        lambda m: f"RETURNING <{m.group(1).count(',') + 1} columns>",
        text,
    )
    return text


def _full_scans(plan: str, dialect: str) -> list[str]:
    if dialect == "postgresql":
        tables = re.findall(r"Seq Scan on (\w+)", plan)
    else:
        tables = re.findall(r"SCAN (\w+)(?! USING (?:COVERING )?INDEX)(?!\w)", plan)
        tables = [t for t in tables if not re.search(rf"SCAN {t} USING", plan)]
    return sorted({t for t in tables if t in BIG_TABLES})


async def _explain_one(session: AsyncSession, statement: str, params: Any, dialect: str) -> str:
    connection = await session.connection()
    if dialect == "postgresql":
        result = await connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return "\n".join(row[0] for row in result)
    result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    rows = list(result)
    depth = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + str(detail))
    return "\n".join(lines)


async def explain_hot_paths(url: str, secret: str, data: Dataset) -> ExplainReport:
    settings = Settings(database_url=url, secret_key=secret)
    engine = create_engine(settings)
    dialect = engine.dialect.name
    sessionmaker = create_sessionmaker(engine)
    report = ExplainReport(backend=dialect)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        # An executemany (several rows in one call) is explained with its first row.
        captured.append((statement, params[0] if _many and params else params))

    now = utcnow()
    heavy = data.heavy_users[0]
    normal = max(data.tokens)  # the last user: an ordinary member
    team = data.teams_of[normal][0]
    in_a_month = int(now.timestamp()) + 30 * 86400

    async def deep_after(session: AsyncSession, user_id: int) -> tuple[int, int] | None:
        after = None
        for _ in range(10_000):
            f = queries.MeetingFilter(limit=100, after=after)
            page, _names, cursor = await queries.list_meetings(session, user_id, f, now)
            if cursor is None or not page:
                break
            after = (page[-1].start_time, page[-1].id)
            # Stop about nine tenths of the way down.
            if len(page) == 100 and page[-1].start_time > int(now.timestamp()) + 300 * 86400:
                break
        return after

    Work = Callable[[AsyncSession], Awaitable[Any]]

    def listing(user_id: int, **kw: Any) -> Work:
        async def run(session: AsyncSession) -> Any:
            f = queries.MeetingFilter(**kw)
            page = await queries.list_meetings(session, user_id, f, now)
            return await queries.meetings_json(session, page.meetings, now, page.names)

        return run

    async def pending(session: AsyncSession) -> Any:
        page = await queries.awaiting_answer(session, normal, None, 20, None, now)
        return await queries.meetings_json(session, page.meetings, now, page.names)

    async def pending_team(session: AsyncSession) -> Any:
        page = await queries.awaiting_answer(session, normal, team, 20, None, now)
        return await queries.meetings_json(session, page.meetings, now, page.names)

    async def auth(session: AsyncSession) -> Any:
        return await user_for_token(session, data.tokens[normal])

    async def details(session: AsyncSession) -> Any:
        meeting_id, user_id = data.sample_meetings[0]
        user = await session.get(User, user_id)
        assert user is not None
        captured.clear()  # the route has the user already (from the token lookup)
        found = await queries.meeting_with_names(session, meeting_id, user.id)
        assert found is not None
        meeting, names = found
        return await queries.meetings_json(session, [meeting], now, names)

    async def create(session: AsyncSession) -> Any:
        requester = await session.get(User, normal)
        assert requester is not None
        captured.clear()
        recipient = next(u for u in data.members[team] if u != normal)
        payload = MeetingCreate(
            user_id=recipient, team_id=team, date="2035-01-02T10:00:00Z", link=None
        )
        meeting = await service.create_meeting(session, requester, payload, now)
        return await queries.meetings_json(session, [meeting], now)

    async def confirm(session: AsyncSession) -> Any:
        meeting_id, recipient = data.confirm_targets[-1]
        user = await session.get(User, recipient)
        assert user is not None
        captured.clear()
        meeting = await service.confirm_meeting(session, meeting_id, user, now)
        return await queries.meetings_json(session, [meeting], now)

    async with sessionmaker() as session:
        after = await deep_after(session, heavy)
    deep = listing(heavy, after=after)

    cases: list[tuple[str, Work]] = [
        ("auth: bearer token lookup (every route)", auth),
        ("pending", pending),
        ("pending?team_id", pending_team),
        ("list", listing(normal)),
        ("list?status=confirmed", listing(normal, statuses=("confirmed",))),
        ("list?status=pending,confirmed", listing(normal, statuses=("pending", "confirmed"))),
        ("list?team_id", listing(normal, team_id=team)),
        ("list?role=recipient", listing(normal, role="recipient")),
        ("list?role=requester", listing(normal, role="requester")),
        (
            "list?from&to (next 30 days)",
            listing(normal, start_from=int(now.timestamp()), start_to=in_a_month),
        ),
        ("list?order=desc", listing(normal, order="desc")),
        ("list, heavy user (~20k meetings), first page", listing(heavy)),
        ("list, heavy user, deep cursor page (~90% down)", deep),
        ("details", details),
        ("create (with its outbox rows)", create),
        ("confirm (with its busy slots and outbox rows)", confirm),
    ]
    try:
        for label, work in cases:
            captured.clear()
            async with sessionmaker() as session:
                await work(session)
                await session.rollback()
            report.statement_counts[label] = len(captured)
            statements = list(dict.fromkeys((s, _freeze(p)) for s, p in captured))
            for statement, params in statements:
                if statement.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK", ";"):
                    continue
                try:
                    async with sessionmaker() as session:
                        plan = await _explain_one(session, statement, params, dialect)
                        await session.rollback()
                except IntegrityError:
                    # Alone, a write may miss the row an earlier one of its transaction
                    # made (a history row's meeting): planned, then, but not run.
                    async with sessionmaker() as session:
                        connection = await session.connection()
                        result = await connection.exec_driver_sql("EXPLAIN " + statement, params)
                        plan = "\n".join(row[0] for row in result) + "\n(planned, not run)"
                        await session.rollback()
                except ArgumentError as error:  # parameters exec_driver_sql cannot take
                    plan = f"(not explained: {error})"
                match = re.search(r"Execution Time: ([\d.]+) ms", plan)
                report.items.append(
                    Explained(
                        label=label,
                        statement=_short_sql(statement),
                        plan=plan,
                        execution_ms=float(match.group(1)) if match else None,
                        full_scans=_full_scans(plan, dialect),
                    )
                )
    finally:
        await engine.dispose()
    return report


def _freeze(params: Any) -> Any:
    if isinstance(params, list | tuple):
        return tuple(_freeze(p) for p in params)
    if isinstance(params, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in params.items()))
    if isinstance(params, datetime):
        return params
    return params


def to_markdown(report: ExplainReport) -> str:
    title = "PostgreSQL" if report.backend == "postgresql" else "SQLite"
    how = (
        "`EXPLAIN (ANALYZE, BUFFERS)`" if report.backend == "postgresql" else "`EXPLAIN QUERY PLAN`"
    )
    lines = [
        f"## {title}: {how} of every statement on the hot paths",
        "",
        "Statements per path (besides BEGIN, COMMIT and the pool's pre-ping; every API"
        " route also runs the token lookup first):",
        "",
        "| path | statements |",
        "|---|---|",
        *(f"| {label} | {count} |" for label, count in report.statement_counts.items()),
        "",
        "| path | statement | full scan of a big table | execution |",
        "|---|---|---|---|",
    ]
    for item in report.items:
        scans = ", ".join(item.full_scans) or "none"
        ms = f"{item.execution_ms:.3f} ms" if item.execution_ms is not None else "–"
        sql = item.statement if len(item.statement) <= 90 else item.statement[:87] + "..."
        lines.append(f"| {item.label} | `{sql}` | {scans} | {ms} |")
    lines.append("")
    current = None
    for item in report.items:
        if item.label != current:
            lines += [f"### {item.label}", ""]
            current = item.label
        lines += ["```sql", item.statement, "```", "", "```", item.plan, "```", ""]
    return "\n".join(lines)
