"""docs/deploy.md's shape, run: nginx → two API processes, two workers, one PostgreSQL.

Debian's nginx serves the shipped site (deploy/nginx/meetbook.conf, TLS with a
self-signed certificate) in front of two `meetbook serve --no-worker` processes; two
`meetbook worker --metrics-port` processes deliver to an aiosmtpd peer each (a relay per
worker host, so every delivery is known to come from one worker); one throwaway
PostgreSQL database. A few clients send a bounded load of creates through nginx, each
with an Idempotency-Key, retrying an unanswered or 5xx create with the same key as a
careful client does. Mid-load one API process and one worker are SIGKILLed and started
again 2 s later (systemd's Restart=always, RestartSec=2). Then:

* no 5xx except for requests in flight on the killed API process at the kill;
* every acknowledged create is in the database exactly once;
* every notification reached an SMTP peer, exactly once, except sends that were in
  flight on the killed worker (at most twice: the peer took it, the worker never heard);
* /metrics agrees with what each target did: each API process's request counters with
  nginx's log of what it sent there, each worker's sent counter with its SMTP peer, and
  the API processes with each other on the queue depth; /metrics is not public.

The figures (printed) are the ones docs/deploy.md quotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.models import Notification
from tests.conftest import POSTGRES_URL, require_postgres
from tests.deploy.conftest import require_tool
from tests.deploy.nginx import Nginx
from tests.metrics_text import parse, total, value
from tests.reliability.harness import (
    MessageIdSink,
    Person,
    Server,
    SmtpSink,
    Worker,
    db_upgrade,
    free_port,
    notification_and_meeting,
    percentile,
    query,
    seed_team,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CREATES = 300
CLIENTS = 6
LOAD_SECONDS = 20.0
KILL_API_AT = 6.0  # seconds into the load
KILL_WORKER_AT = 11.0
RESTART_AFTER = 2.0  # RestartSec= of the units
# A 5xx counts as one of the killed process's in-flight requests if it was under way at
# the SIGKILL, or began at most this long after the process was gone: nginx may still
# hand a request to a kept-alive connection of the dead process before it has read the
# connection's close (a POST already sent is not re-sent, see deploy/nginx/meetbook.conf).
IN_FLIGHT_GRACE = 0.25
CREATE_ROUTE = "/api/v3/meeting/create"


@dataclass(frozen=True)
class Attempt:
    key: str
    request_id: str
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no answer
    meeting_id: int | None


@dataclass
class Load:
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)  # key → meeting id
    expected: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # key → who, when
    in_flight: int = 0


@dataclass
class Shape:
    database_url: str
    nginx: Nginx
    apis: list[Server]
    workers: list[Worker]
    sinks: list[MessageIdSink]
    team_id: int
    people: list[Person]


# docs/deploy.md, "First run": the role and the database it owns, as the docs write them.
FIRST_RUN_SQL = (
    "CREATE ROLE {role} LOGIN PASSWORD '{password}'",
    "CREATE DATABASE {database} OWNER {role}",
)


@contextlib.asynccontextmanager
async def documented_database(workdir: Path) -> AsyncIterator[str]:
    """A database made as docs/deploy.md says (its own role, not a superuser), migrated
    by `meetbook db upgrade` as that role; dropped with the role after."""
    await require_postgres()
    name = f"meetbook_deploy_{secrets.token_hex(4)}"
    password = secrets.token_hex(16)
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            for statement in FIRST_RUN_SQL:
                sql = statement.format(role=name, password=password, database=name)
                await connection.execute(text(sql))
        url = (
            make_url(POSTGRES_URL)
            .set(username=name, password=password, database=name)
            .render_as_string(hide_password=False)
        )
        await asyncio.to_thread(db_upgrade, url, workdir)
        yield url
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        await engine.dispose()


@pytest_asyncio.fixture
async def shape(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shape]:
    nginx_binary = require_tool("nginx", "nginx", default="/usr/sbin/nginx")
    workdir = tmp_path_factory.mktemp("deploy")
    sinks = [MessageIdSink(delay=0.02), MessageIdSink(delay=0.02)]
    controllers = [SmtpSink(sink) for sink in sinks]
    for controller in controllers:
        controller.start()
    started: list[Any] = []
    try:
        async with documented_database(workdir) as url:
            team_id, people = await seed_team(url, 12)
            apis = [
                Server(url, workdir, name=f"api{n}", smtp_host="127.0.0.1",
                       smtp_port=controllers[0].port)
                for n in (1, 2)
            ]  # fmt: skip
            workers = [
                Worker(url, workdir, name=f"worker{n}", metrics_port=free_port(),
                       smtp_host="127.0.0.1", smtp_port=controller.port, smtp_timeout=5)
                for n, controller in zip((1, 2), controllers, strict=True)
            ]  # fmt: skip
            nginx = Nginx(nginx_binary, workdir, [api.port for api in apis])
            try:
                for process in [*apis, *workers]:
                    process.start()
                    started.append(process)
                nginx.start()
                started.append(nginx)
                await asyncio.gather(*(api.wait_ready() for api in apis))
                await asyncio.gather(*(worker.wait_started() for worker in workers))
                yield Shape(url, nginx, apis, workers, sinks, team_id, people)
            finally:
                # All at once: each may take its graceful-shutdown time.
                await asyncio.gather(*(asyncio.to_thread(p.stop) for p in started))
    finally:
        for controller in controllers:
            controller.stop()


async def _create(
    http: httpx.AsyncClient, load: Load, by: Person, to: Person, team_id: int, start: datetime
) -> None:
    """One create, retried with the same Idempotency-Key until it is answered."""
    key = uuid.uuid4().hex
    body = {"user_id": to.id, "team_id": team_id, "date": start.strftime("%Y-%m-%dT%H:%M:00Z")}
    load.expected[key] = (by.id, to.id, int(start.timestamp()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        request_id = uuid.uuid4().hex
        headers = {**by.auth, "Idempotency-Key": key, "X-Request-Id": request_id}
        began = time.monotonic()
        load.in_flight += 1
        try:
            response = await http.post(CREATE_ROUTE, json=body, headers=headers)
            status: int | None = response.status_code
        except httpx.HTTPError:
            response, status = None, None
        finally:
            load.in_flight -= 1
        meeting_id = response.json()["id"] if response is not None and status == 201 else None
        load.attempts.append(Attempt(key, request_id, began, time.monotonic(), status, meeting_id))
        if meeting_id is not None:
            load.acknowledged[key] = meeting_id
            return
        # 5xx, no answer, or 409 "still in progress" (the first try's transaction is
        # still open): the same key again shortly, as the contract's clients do.
        assert status is None or status >= 500 or status == 409, (
            status,
            response and response.text,
        )
        await asyncio.sleep(0.2)
    raise AssertionError(f"create {key} never answered")


async def _client(
    http: httpx.AsyncClient, load: Load, shape: Shape, number: int, began: float
) -> None:
    rng = random.Random(number)
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    for slot in range(number, CREATES, CLIENTS):
        # Evenly spread: create number `slot` is due at slot × LOAD_SECONDS / CREATES.
        await asyncio.sleep(max(0.0, began + slot * LOAD_SECONDS / CREATES - time.monotonic()))
        by, to = rng.sample(shape.people, 2)
        # A distinct minute per create, so each meeting is recognisable in the database.
        await _create(http, load, by, to, shape.team_id, first + timedelta(minutes=slot))


async def _when_in_flight(load: Load, at_least: int, timeout: float = 3.0) -> None:
    """Until `at_least` requests are in flight, so the kill lands mid-request."""
    deadline = time.monotonic() + timeout
    while load.in_flight < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.001)


async def _scrape(port: int) -> dict[Any, float]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    return parse(response.text)


async def _wait_all_sent(url: str, expected: int, timeout: float = 40.0) -> Counter[str]:
    deadline = time.monotonic() + timeout
    statuses: Counter[str] = Counter()
    while time.monotonic() < deadline:
        # Timed notices (each request's "still waiting" nudge, due a day before it) are
        # planned, not due: only what is due now must have gone out.
        rows = await query(
            url,
            "SELECT status, count(*) FROM notifications WHERE schedule_key IS NULL GROUP BY status",
        )
        statuses = Counter({row[0]: row[1] for row in rows})
        if statuses == Counter({"sent": expected}):
            break
        await asyncio.sleep(0.25)
    return statuses


async def test_the_documented_shape_survives_sigkill_under_load(shape: Shape) -> None:
    api_killed, worker_killed = shape.apis[0], shape.workers[1]
    sink_of_killed = shape.sinks[1]
    load = Load()
    events: dict[str, Any] = {}

    async def kill_api() -> None:
        await asyncio.sleep(max(0.0, began + KILL_API_AT - time.monotonic()))
        await _when_in_flight(load, 2)
        events["api in flight"] = load.in_flight
        events["api killed"] = time.monotonic()
        api_killed.kill()  # returns once the process is gone (this loop waits meanwhile)
        events["api dead"] = time.monotonic()
        await asyncio.sleep(RESTART_AFTER)
        events["api restarted (wall)"] = time.time()
        api_killed.start()
        await api_killed.wait_ready()
        events["api ready"] = time.monotonic()

    async def kill_worker() -> None:
        await asyncio.sleep(max(0.0, began + KILL_WORKER_AT - time.monotonic()))
        dead = worker_killed.name_in_log()
        deadline = time.monotonic() + 3  # until it is mid-send (a DATA under way)
        while (
            sink_of_killed.data_commands <= len(sink_of_killed.deliveries)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.001)
        worker_killed.kill()
        events["worker killed"] = time.monotonic()
        # The peer finishes the DATA it had (and keeps it: the worker never hears).
        deadline = time.monotonic() + 5
        while (
            sink_of_killed.data_commands > len(sink_of_killed.snapshot())
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.01)
        events["peer deliveries at kill"] = len(sink_of_killed.snapshot())
        # Its claimed rows would be due again when the lease runs out (120 s): stand in
        # for that wait. Only rows still pending can be delivered twice.
        rows = await query(
            shape.database_url,
            "SELECT id FROM notifications WHERE lease_owner = :dead AND status = 'pending'",
            dead=dead,
        )
        events["worker leased"] = {row[0] for row in rows}
        await query(
            shape.database_url,
            update(Notification)
            .where(Notification.lease_owner == dead)
            .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)),
        )
        await asyncio.sleep(max(0.0, events["worker killed"] + RESTART_AFTER - time.monotonic()))
        worker_killed.start()
        await worker_killed.wait_started()

    limits = httpx.Limits(max_connections=CLIENTS * 2, keepalive_expiry=30)
    async with httpx.AsyncClient(
        base_url=shape.nginx.url, verify=shape.nginx.ssl_context(), timeout=30, limits=limits
    ) as http:
        began = time.monotonic()
        await asyncio.gather(
            *(_client(http, load, shape, n, began) for n in range(CLIENTS)),
            kill_api(),
            kill_worker(),
        )
        elapsed = time.monotonic() - began
        # /metrics is for the host's Prometheus, not through the proxy; HTTP redirects.
        assert (await http.get("/metrics")).status_code == 403
    plain = httpx.get(f"http://127.0.0.1:{shape.nginx.http_port}/healthz", timeout=5)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/healthz"

    # 1. No 5xx but the killed process's in-flight requests, as nginx's log confirms.
    killed_at = events["api killed"]
    by_id = {answer.request_id: answer for answer in shape.nginx.answers()}
    failed = [a for a in load.attempts if a.status is None or a.status >= 500]
    killed_upstream = f"127.0.0.1:{api_killed.port}"
    for attempt in failed:
        in_flight = attempt.ended >= killed_at
        in_flight &= attempt.started <= events["api dead"] + IN_FLIGHT_GRACE
        assert in_flight, (attempt, killed_at, events["api dead"])
        assert attempt.status is not None, f"no answer from nginx: {attempt}"
        answer = by_id[attempt.request_id]
        assert answer.upstreams[-1][0] == killed_upstream, answer
    assert len(failed) <= CLIENTS

    # 2. Every acknowledged create is in the database once: one meeting per key.
    assert len(load.acknowledged) == CREATES
    rows = await query(
        shape.database_url, "SELECT id, requester_id, recipient_id, start_time FROM meetings"
    )
    stored = {row[0]: (row[1], row[2], row[3]) for row in rows}
    assert len(stored) == CREATES
    for key, meeting_id in load.acknowledged.items():
        assert stored[meeting_id] == load.expected[key], (key, meeting_id)
    assert len(set(load.acknowledged.values())) == CREATES

    # 3. Every notification delivered once; twice only if the killed worker had it.
    load_done = time.monotonic()
    statuses = await _wait_all_sent(shape.database_url, CREATES)
    drained = time.monotonic() - load_done
    assert statuses == Counter({"sent": CREATES}), statuses
    notifications = {
        row[0]: row[1]
        for row in await query(
            shape.database_url,
            "SELECT id, meeting_id FROM notifications WHERE schedule_key IS NULL",
        )
    }
    delivered: Counter[int] = Counter()
    for sink in shape.sinks:
        for delivery in sink.snapshot():
            notification_id, meeting_id = notification_and_meeting(delivery.message_id)
            assert notifications[notification_id] == meeting_id
            delivered[notification_id] += 1
    assert set(delivered) == set(notifications)
    twice = {n for n, count in delivered.items() if count > 1}
    assert twice <= events["worker leased"], (twice, events["worker leased"])
    assert max(delivered.values()) <= 2

    # 4. /metrics agrees with what each target did.
    api_samples = [await _scrape(api.port) for api in shape.apis]
    worker_samples = [await _scrape(w.metrics_port) for w in shape.workers if w.metrics_port]
    answered_by: dict[str, Counter[str]] = {
        f"127.0.0.1:{api.port}": Counter() for api in shape.apis
    }
    for answer in by_id.values():
        for address, status in answer.upstreams:
            if answer.path != CREATE_ROUTE or status == "502":  # 502: nginx's, not meetbook's
                continue
            if address == killed_upstream and answer.ended < events["api restarted (wall)"]:
                continue  # answered by the process that was killed: its counts died with it
            answered_by[address][status] += 1
    for api, samples in zip(shape.apis, api_samples, strict=True):
        counted = Counter(
            {
                status: int(value(samples, "meetbook_http_requests_total", method="POST",
                                  route=CREATE_ROUTE, status=status))
                for status in {*answered_by[f"127.0.0.1:{api.port}"], "201"}
            }
        )  # fmt: skip
        assert +counted == answered_by[f"127.0.0.1:{api.port}"], (api.name, counted)
        assert value(samples, "meetbook_notifications_queue_depth") == 0
    sent = [total(s, "meetbook_notifications_sent_total", channel="email") for s in worker_samples]
    assert sent[0] == len(shape.sinks[0].snapshot())
    assert sent[1] == len(sink_of_killed.snapshot()) - events["peer deliveries at kill"]
    assert all(total(s, "meetbook_notifications_failed_total") == 0 for s in worker_samples)

    # The API's own time per create (its histogram), beside the client's through nginx.
    histogram = "meetbook_http_request_duration_seconds"
    api_seconds = sum(total(s, f"{histogram}_sum", route=CREATE_ROUTE) for s in api_samples)
    api_count = sum(total(s, f"{histogram}_count", route=CREATE_ROUTE) for s in api_samples)
    answered = [a for a in load.attempts if a.status is not None]
    latencies = [a.ended - a.started for a in answered]
    print(
        f"\n[deploy] {len(load.attempts)} requests through nginx for {CREATES} creates in "
        f"{elapsed:.1f} s ({CREATES / elapsed:.1f} creates/s acknowledged) from {CLIENTS} "
        f"clients; 5xx: {Counter(a.status for a in failed)} "
        f"(requests in flight at the API kill: {events['api in flight']}), "
        f"no answer: {sum(1 for a in failed if a.status is None)}, 409 retries: "
        f"{sum(1 for a in load.attempts if a.status == 409)}; latency through nginx "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms (mean inside the API {api_seconds / api_count * 1000:.0f} ms); API back {events['api ready'] - killed_at:.1f} s "
        f"after the kill; deliveries {delivered.total()} for {len(notifications)} "
        f"notifications ({len(twice)} twice, of {len(events['worker leased'])} the killed "
        f"worker held); per API 201s {[answered_by[k]['201'] for k in answered_by]}, per "
        f"worker sent {sent}; all sent {drained:.1f} s after the load; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
