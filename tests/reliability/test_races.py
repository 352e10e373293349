"""Races over real HTTP against a real `meetbook serve --no-worker`, on both backends.

On PostgreSQL the server runs with `--workers 2`, so the racing requests are served by
two API processes with their own connection pools; on SQLite by one process whose
connections serialize writes with BEGIN IMMEDIATE. Outcomes are checked in SQL.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from tests.conftest import BACKENDS
from tests.reliability.harness import (
    Person,
    Server,
    api_client,
    expected_recipients,
    fresh_database,
    is_envelope,
    json_column,
    query,
    seed_team,
)

pytestmark = pytest.mark.timeout(300)

ROUNDS = 4  # meetings raced on, 50 requests each
LEGAL = (["confirm"], ["reject"], ["cancel"], ["confirm", "cancel"])


@dataclass
class Served:
    backend: str
    database_url: str
    server: Server
    http: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module", params=BACKENDS)
async def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    backend = request.param
    workdir = tmp_path_factory.mktemp(f"races-{backend}")
    async with fresh_database(backend, workdir) as url:
        server = Server(url, workdir, workers=2 if backend == "postgres" else 1)
        server.start()
        try:
            await server.wait_ready()
            async with api_client(server.url) as http:
                yield Served(backend, url, server, http)
        finally:
            server.stop()
        log = server.log_text()
        assert "request.unexpected_error" not in log, server.log_tail(80)


def _start(days: int, minutes: int = 0) -> str:
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=days, minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _create(
    served: Served, by: Person, to: Person, team_id: int, date: str, **headers: str
) -> httpx.Response:
    body = {"user_id": to.id, "team_id": team_id, "date": date}
    return await served.http.post(
        "/api/v3/meeting/create", json=body, headers={**by.auth, **headers}
    )


async def _notifications(served: Served, meeting_id: int) -> list[tuple[str, int, object]]:
    rows = await query(
        served.database_url,
        "SELECT event, user_id, context FROM notifications"
        " WHERE meeting_id = :id AND schedule_key IS NULL ORDER BY id",
        id=meeting_id,
    )
    return [(row[0], row[1], row[2]) for row in rows]


async def test_fifty_mixed_changes_leave_pending_exactly_once(served: Served) -> None:
    team_id, (requester, recipient) = await seed_team(served.database_url, 2)
    chains: Counter[str] = Counter()
    for round_number in range(ROUNDS):
        created = await _create(served, requester, recipient, team_id, _start(3 + round_number))
        assert created.status_code == 201, created.text
        meeting_id = created.json()["id"]
        calls = []
        for i in range(50):
            action = ("confirm", "reject", "cancel")[i % 3]
            actor = requester if action == "cancel" and i % 2 else recipient
            calls.append((action, actor))
        responses = await asyncio.gather(
            *(
                served.http.post(f"/api/v3/meeting/{meeting_id}/{action}", headers=actor.auth)
                for action, actor in calls
            )
        )
        codes = Counter(r.status_code for r in responses)
        assert set(codes) <= {200, 409}, codes
        for response in responses:
            if response.status_code == 409:
                assert is_envelope(response.json(), 409), response.text
        won = [
            (action, actor.id)
            for (action, actor), response in zip(calls, responses, strict=True)
            if response.status_code == 200
        ]
        # Exactly one change leaves pending; cancelling the confirmed meeting is the only
        # legal second change. Sorting by the status each answer reported orders a pair.
        won.sort(key=lambda change: change[0] == "cancel")
        assert [action for action, _ in won] in LEGAL, won
        chains["+".join(action for action, _ in won)] += 1

        final = (
            await served.http.get(f"/api/v3/meeting/{meeting_id}", headers=requester.auth)
        ).json()
        expected_status = {"confirm": "confirmed", "reject": "rejected", "cancel": "cancelled"}
        assert final["status"] == expected_status[won[-1][0]]
        # The outbox holds exactly the notifications of the changes that succeeded.
        outbox = await _notifications(served, meeting_id)
        assert Counter((event, user) for event, user, _ in outbox) == expected_recipients(
            requester.id, recipient.id, won
        )
        if len(won) == 2:
            # The cancel saw the meeting confirmed: it really came second.
            cancelled = [ctx for event, _, ctx in outbox if event == "meeting-cancelled"]
            assert all(json_column(ctx)["was_confirmed"] is True for ctx in cancelled), outbox
        busy = await query(
            served.database_url, "SELECT count(*) FROM busy_slots WHERE meeting_id = :id",
            id=meeting_id,
        )  # fmt: skip
        assert busy[0][0] == (2 if final["status"] == "confirmed" else 0)
    print(f"\n[{served.backend}] {ROUNDS} x 50 racing changes, winners: {dict(chains)}")


async def test_thirty_creates_and_confirms_never_double_book_one_person(served: Served) -> None:
    team_id, people = await seed_team(served.database_url, 31)
    person, others = people[0], people[1:]
    # 30 one-hour meetings starting every 10 minutes over 5 hours: each overlaps up to 10
    # others. `person` is the recipient of half and the requester of the other half, so
    # both sides of the overlap check (and of the exclusion constraint) are raced.
    plans = []
    for i, other in enumerate(others):
        by, to = (other, person) if i % 2 == 0 else (person, other)
        plans.append((by, to, _start(10, minutes=10 * i)))

    async def create_then_confirm(by: Person, to: Person, date: str) -> tuple[int, int | None, int]:
        created = await _create(served, by, to, team_id, date)
        if created.status_code != 201:
            assert created.status_code == 409, created.text
            assert is_envelope(created.json(), 409)
            return created.status_code, None, 0
        meeting_id = created.json()["id"]
        confirmed = await served.http.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=to.auth)
        assert confirmed.status_code in (200, 409), confirmed.text
        if confirmed.status_code == 409:
            assert is_envelope(confirmed.json(), 409)
        return created.status_code, meeting_id, confirmed.status_code

    results = await asyncio.gather(*(create_then_confirm(*plan) for plan in plans))
    confirmed_ids = {mid for _, mid, code in results if code == 200}
    refused_ids = {mid for _, mid, code in results if code == 409}
    assert confirmed_ids, results

    overlaps = await query(
        served.database_url,
        """
        SELECT a.id, b.id FROM meetings a JOIN meetings b
          ON a.id < b.id AND a.start_time < b.end_time AND b.start_time < a.end_time
        WHERE a.status = 'confirmed' AND b.status = 'confirmed'
          AND :p IN (a.requester_id, a.recipient_id) AND :p IN (b.requester_id, b.recipient_id)
        """,
        p=person.id,
    )
    assert overlaps == []
    slot_overlaps = await query(
        served.database_url,
        """
        SELECT a.meeting_id, b.meeting_id FROM busy_slots a JOIN busy_slots b
          ON a.user_id = b.user_id AND a.meeting_id < b.meeting_id
         AND a.start_time < b.end_time AND b.start_time < a.end_time
        """,
    )
    assert slot_overlaps == []
    rows = await query(served.database_url, "SELECT id, status, start_time, end_time FROM meetings")
    status = {row[0]: row[1] for row in rows}
    # Every answer was true: a 200 is confirmed in the database, a 409 left it pending.
    assert {mid for mid, s in status.items() if s == "confirmed"} == confirmed_ids
    assert all(status[mid] == "pending" for mid in refused_ids)
    # ...and every refusal was for a real overlap with a meeting that did get confirmed.
    span = {row[0]: (row[2], row[3]) for row in rows}
    for mid in refused_ids:
        start, end = span[mid]
        assert any(span[c][0] < end and start < span[c][1] for c in confirmed_ids), mid
    slots = await query(served.database_url, "SELECT meeting_id FROM busy_slots")
    assert Counter(row[0] for row in slots) == {mid: 2 for mid in confirmed_ids}
    creates = Counter(code for code, _, _ in results)
    print(
        f"\n[{served.backend}] 30 creates {dict(creates)}; confirms: {len(confirmed_ids)} won, "
        f"{len(refused_ids)} refused with 409; overlapping confirmed pairs: 0"
    )


async def test_confirms_of_crossing_meetings_of_two_people_answer_200_or_409(
    served: Served,
) -> None:
    # P asks Q and Q asks P for overlapping hours, then both confirm everything at once:
    # each confirm writes a busy slot for both people, in opposite roles, which is where
    # two transactions can wait on each other.
    team_id, (p, q) = await seed_team(served.database_url, 2)
    plans = [((p, q) if i % 2 else (q, p), _start(30, minutes=15 * i)) for i in range(16)]
    ids = []
    for (by, to), date in plans:
        created = await _create(served, by, to, team_id, date)
        assert created.status_code == 201, created.text
        ids.append((created.json()["id"], to))
    responses = await asyncio.gather(
        *(served.http.post(f"/api/v3/meeting/{mid}/confirm", headers=to.auth) for mid, to in ids)
    )
    codes = Counter(r.status_code for r in responses)
    assert set(codes) <= {200, 409}, [r.text for r in responses if r.status_code not in (200, 409)]
    overlaps = await query(
        served.database_url,
        """
        SELECT count(*) FROM meetings a JOIN meetings b
          ON a.id < b.id AND a.start_time < b.end_time AND b.start_time < a.end_time
        WHERE a.status = 'confirmed' AND b.status = 'confirmed' AND a.team_id = :t
          AND b.team_id = :t
        """,
        t=team_id,
    )
    assert overlaps[0][0] == 0
    assert codes[200] >= 1
    print(f"\n[{served.backend}] 16 crossing confirms: {dict(codes)}")


async def _retry_conflicts(
    served: Served, response: httpx.Response, body: dict[str, object], headers: dict[str, str]
) -> httpx.Response:
    """A 409 "still in progress" is an invitation to retry; do so a bounded number of times."""
    for _ in range(20):
        if response.status_code != 409:
            return response
        await asyncio.sleep(0.1)
        response = await served.http.post("/api/v3/meeting/create", json=body, headers=headers)
    return response


async def test_twenty_identical_creates_with_one_key_make_one_meeting(served: Served) -> None:
    team_id, (requester, recipient) = await seed_team(served.database_url, 2)
    body = {"user_id": recipient.id, "team_id": team_id, "date": _start(20)}
    headers = {**requester.auth, "Idempotency-Key": "race-same-body"}
    responses = await asyncio.gather(
        *(served.http.post("/api/v3/meeting/create", json=body, headers=headers) for _ in range(20))
    )
    first_codes = Counter(r.status_code for r in responses)
    assert set(first_codes) <= {201, 409}, first_codes
    final = [await _retry_conflicts(served, r, body, headers) for r in responses]
    assert {r.status_code for r in final} == {201}
    assert len({r.json()["id"] for r in final}) == 1
    assert len({r.json()["booking_number"] for r in final}) == 1
    meetings = await query(
        served.database_url, "SELECT id FROM meetings WHERE requester_id = :r", r=requester.id
    )
    assert [row[0] for row in meetings] == [final[0].json()["id"]]
    outbox = await _notifications(served, final[0].json()["id"])
    assert [(event, user) for event, user, _ in outbox] == [("meeting-created", recipient.id)]
    print(f"\n[{served.backend}] 20 identical keyed creates: first answers {dict(first_codes)}")


async def test_one_key_with_two_bodies_racing_makes_one_meeting(served: Served) -> None:
    team_id, (requester, recipient) = await seed_team(served.database_url, 2)
    bodies = [
        {"user_id": recipient.id, "team_id": team_id, "date": _start(21)},
        {"user_id": recipient.id, "team_id": team_id, "date": _start(22)},
    ]
    headers = {**requester.auth, "Idempotency-Key": "race-two-bodies"}
    sent = [bodies[i % 2] for i in range(16)]
    responses = await asyncio.gather(
        *(served.http.post("/api/v3/meeting/create", json=body, headers=headers) for body in sent)
    )
    final = [
        await _retry_conflicts(served, r, body, headers)
        for r, body in zip(responses, sent, strict=True)
    ]
    created = [(r, body) for r, body in zip(final, sent, strict=True) if r.status_code == 201]
    assert created
    winner = created[0][1]
    # Whichever body won, every request with it gets the one meeting; the other body 422.
    for response, body in zip(final, sent, strict=True):
        if body == winner:
            assert response.status_code == 201
            assert response.json()["id"] == created[0][0].json()["id"]
        else:
            assert response.status_code == 422, response.text
            assert is_envelope(response.json(), 422)
    meetings = await query(
        served.database_url, "SELECT count(*) FROM meetings WHERE requester_id = :r", r=requester.id
    )
    assert meetings[0][0] == 1
