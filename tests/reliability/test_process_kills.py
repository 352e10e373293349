"""SIGKILL of the API and of the worker while clients keep working, on both backends.

`meetbook serve --no-worker` and `meetbook worker` run as separate processes against one
fresh database and an aiosmtpd sink (slow enough that the worker always has sends in
flight). Clients create meetings and confirm, reject or cancel them throughout; the
worker is killed mid-send, then the API and the worker at once, each restarted at once.
After the dust settles:

* every request that got a 2xx is in the database (the meeting, and the change's
  notifications, which commit in the same transaction);
* every meeting's outbox is exactly what its final state calls for, no more, no less;
* every notification reached the sink at least once, under its own Message-ID, and the
  sink saw no Message-ID that is not a notification.

The other engineer's tests/notifications/test_worker_processes.py covers the worker
alone (SIGKILL mid-batch, two workers, SIGTERM); this is the whole service under load.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update

from meetbook.models import Notification
from tests.conftest import BACKENDS
from tests.reliability.harness import (
    MESSAGE_ID,
    MessageIdSink,
    Person,
    Server,
    SmtpSink,
    Worker,
    api_client,
    expected_recipients,
    fresh_database,
    json_column,
    notification_and_meeting,
    query,
    seed_team,
)

pytestmark = pytest.mark.timeout(300)

CLIENTS = 4
DRAIN_SECONDS = 120.0


@dataclass
class Seen:
    """What the clients were told: only answers that arrived count."""

    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    changes: dict[int, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    codes: Counter[str] = field(default_factory=Counter)


async def _client_loop(
    http: httpx.AsyncClient,
    team_id: int,
    people: list[Person],
    seen: Seen,
    stop: asyncio.Event,
    number: int,
) -> None:
    rng = random.Random(number)
    deadline = time.monotonic() + 240
    for _ in range(10_000):
        if stop.is_set() or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)
        by, to = rng.sample(people, 2)
        start = datetime.now(UTC) + timedelta(days=rng.randint(2, 400), hours=rng.randint(0, 23))
        body = {"user_id": to.id, "team_id": team_id, "date": start.strftime("%Y-%m-%dT%H:00:00Z")}
        try:
            created = await http.post("/api/v3/meeting/create", json=body, headers=by.auth)
            seen.codes[f"create:{created.status_code}"] += 1
            if created.status_code != 201:
                continue
            meeting = created.json()
            seen.created[meeting["id"]] = meeting
            action, actor = rng.choice(
                [("confirm", to), ("reject", to), ("cancel", by), (None, by), ("confirm", to)]
            )
            if action is None:
                continue
            answer = await http.post(
                f"/api/v3/meeting/{meeting['id']}/{action}", headers=actor.auth
            )
            seen.codes[f"{action}:{answer.status_code}"] += 1
            if answer.status_code == 200:
                seen.changes[meeting["id"]].append((action, actor.id))
                if action == "confirm" and rng.random() < 0.3:
                    again = await http.post(
                        f"/api/v3/meeting/{meeting['id']}/cancel", headers=by.auth
                    )
                    seen.codes[f"cancel:{again.status_code}"] += 1
                    if again.status_code == 200:
                        seen.changes[meeting["id"]].append(("cancel", by.id))
        except httpx.HTTPError as error:
            # The API died under this request: its outcome is unknown, which is allowed.
            seen.codes[f"no answer:{type(error).__name__}"] += 1
            await asyncio.sleep(0.2)


@dataclass
class Deployment:
    backend: str
    database_url: str
    api: Server
    worker: Worker
    sink: MessageIdSink
    team_id: int
    people: list[Person]


@pytest_asyncio.fixture(params=BACKENDS)
async def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"kills-{backend}")
    sink = MessageIdSink(delay=0.05)
    controller = SmtpSink(sink)
    controller.start()
    try:
        async with fresh_database(backend, workdir) as url:
            team_id, people = await seed_team(url, 8)
            smtp = {"smtp_host": "127.0.0.1", "smtp_port": controller.port, "smtp_timeout": 5}
            api = Server(url, workdir, name="api", **smtp)
            worker = Worker(url, workdir, **smtp)
            try:
                yield Deployment(backend, url, api, worker, sink, team_id, people)
            finally:
                worker.stop()
                api.stop()
    finally:
        sink.mode = "accept"
        controller.stop()


async def _wait_for_sends(sink: MessageIdSink, more_than: int, timeout: float = 60) -> None:
    """Until the sink has begun more than `more_than` DATA commands: sends are in flight."""
    deadline = time.monotonic() + timeout
    while sink.data_commands <= more_than and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _wait_until_all_sent(url: str, timeout: float) -> Counter[str]:
    deadline = time.monotonic() + timeout
    statuses: Counter[str] = Counter()
    while time.monotonic() < deadline:
        rows = await query(
            url,
            "SELECT status, count(*) FROM notifications WHERE schedule_key IS NULL GROUP BY status",
        )
        statuses = Counter({row[0]: row[1] for row in rows})
        if set(statuses) == {"sent"}:
            return statuses
        await asyncio.sleep(0.5)
    return statuses


async def test_sigkill_of_api_and_worker_under_load_loses_nothing(
    deployment: Deployment,
) -> None:
    d = deployment
    began = time.monotonic()
    marks: list[str] = []

    def mark(what: str) -> None:
        marks.append(f"{what} {time.monotonic() - began:.1f}s")

    d.api.start()
    d.worker.start()
    await d.api.wait_ready()
    mark("ready")
    seen, stop = Seen(), asyncio.Event()
    kills: list[str] = []
    async with api_client(d.api.url, timeout=30) as http:
        clients = [
            asyncio.create_task(_client_loop(http, d.team_id, d.people, seen, stop, n))
            for n in range(CLIENTS)
        ]
        try:
            # 1. The worker, in the middle of sending.
            await _wait_for_sends(d.sink, 5)
            d.worker.kill()
            kills.append(f"worker at {d.sink.data_commands} DATA")
            d.worker.start()
            mark("worker killed")
            # 2. The API and the worker at once, under client load, while sends are in flight.
            await _wait_for_sends(d.sink, d.sink.data_commands + 5)
            d.api.kill()
            d.worker.kill()
            kills.append(f"api + worker at {d.sink.data_commands} DATA")
            d.api.start()
            d.worker.start()
            mark("both killed")
            await d.api.wait_ready()
            mark("api back")
            await asyncio.sleep(3)  # steady load on the restarted pair
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*clients), timeout=60)

    # The killed workers' leases would run out after 120 s; stop the live worker cleanly
    # (it releases its own), then stand in for the clock on the dead ones' leases.
    await d.worker.wait_started()
    assert d.worker.stop() == 0, d.worker.log_tail()
    leased = await query(
        d.database_url, "SELECT count(*) FROM notifications WHERE lease_owner IS NOT NULL"
    )
    await query(
        d.database_url,
        update(Notification)
        .where(Notification.lease_owner.is_not(None))
        .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )
    d.worker.start()
    mark("load stopped, leases expired")
    statuses = await _wait_until_all_sent(d.database_url, DRAIN_SECONDS)
    mark("all sent")
    assert set(statuses) == {"sent"}, statuses

    # 1. Every 2xx is in the database.
    rows = await query(d.database_url, "SELECT id, booking_number, status FROM meetings")
    stored = {row[0]: (row[1], row[2]) for row in rows}
    for meeting_id, meeting in seen.created.items():
        assert stored[meeting_id][0] == meeting["booking_number"]
    outbox_rows = await query(
        d.database_url,
        "SELECT id, meeting_id, event, user_id, context FROM notifications"
        " WHERE schedule_key IS NULL",
    )
    outbox: dict[int, Counter[tuple[str, int]]] = defaultdict(Counter)
    cancel_was_confirmed: dict[int, bool] = {}
    for _, meeting_id, event, user_id, context in outbox_rows:
        outbox[meeting_id][(event, user_id)] += 1
        if event == "meeting-cancelled":
            cancel_was_confirmed[meeting_id] = bool(json_column(context).get("was_confirmed"))
    for meeting_id, changes in seen.changes.items():
        for action, _ in changes:
            event = {"confirm": "confirmed", "reject": "rejected", "cancel": "cancelled"}[action]
            assert any(e == f"meeting-{event}" for e, _ in outbox[meeting_id]), (
                meeting_id,
                changes,
            )
    # 2. Each meeting's outbox is exactly what its stored state says happened to it.
    parties = {
        row[0]: (row[1], row[2])
        for row in await query(
            d.database_url, "SELECT id, requester_id, recipient_id FROM meetings"
        )
    }
    for meeting_id, (_, status) in stored.items():
        requester, recipient = parties[meeting_id]
        history: list[tuple[str, int]] = []
        if status == "confirmed" or cancel_was_confirmed.get(meeting_id):
            history.append(("confirm", recipient))
        if status == "rejected":
            history.append(("reject", recipient))
        if status == "cancelled":
            actor = next(u for (e, u) in outbox[meeting_id] if e == "meeting-cancelled")
            canceller = requester if actor == recipient else recipient
            history.append(("cancel", canceller))
        assert outbox[meeting_id] == expected_recipients(requester, recipient, history), (
            meeting_id,
            status,
            outbox[meeting_id],
        )
    # 3. Every notification reached the sink at least once, under its own Message-ID.
    counts = d.sink.counts()
    delivered = [notification_and_meeting(message_id) for message_id in counts]
    assert len(set(delivered)) == len(counts)  # one Message-ID per notification
    assert set(delivered) == {(n, m) for n, m, *_ in outbox_rows}
    assert all(MESSAGE_ID.fullmatch(message_id) for message_id in counts)
    duplicates = {mid: n for mid, n in counts.items() if n > 1}
    answered = {k: v for k, v in seen.codes.items() if not k.startswith("no answer")}
    assert all(code.split(":")[1] in ("200", "201", "409") for code in answered), seen.codes
    print(
        f"\n[{d.backend}] kills: {kills}; client answers {dict(seen.codes)}; "
        f"{len(stored)} meetings, {len(outbox_rows)} notifications all sent; leases left by "
        f"killed workers: {leased[0][0]}; Message-IDs delivered twice: {len(duplicates)}"
    )
    print(f"[{d.backend}] timeline: {marks}")
