"""GET /api/v3/meeting/{id}/history: every change, the clock's included, oldest first."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from meetbook.meetings.machine import materialise_clock_statuses
from meetbook.models import Meeting, MeetingHistory
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.conftest import MovableClock, World, create_meeting, future


@pytest.fixture
async def trio(world: World):
    requester = await world.person("Rita")
    recipient = await world.person("Carl")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(client, trio, clock, *, days: int = 3) -> dict:
    requester, recipient, team_id = trio
    response = await create_meeting(client, requester, recipient, team_id, future(clock, days, 10))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _history(client, meeting_id: int, person) -> list[dict]:
    response = await client.get(f"/api/v3/meeting/{meeting_id}/history", headers=person.auth)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _steps(items: list[dict]) -> list[tuple]:
    return [(i["action"], i["actor_id"], i["from_status"], i["to_status"]) for i in items]


async def test_create_is_the_first_entry(client, trio, clock: MovableClock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    for person in (requester, recipient):
        [created] = await _history(client, meeting["id"], person)
        assert created == {
            "at": _iso(clock.now),
            "action": "created",
            "actor_id": requester.id,
            "from_status": None,
            "to_status": "pending",
            "start_time": meeting["start_time"],
            "reason": None,
        }


async def test_confirm_then_cancel(client, trio, clock: MovableClock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    clock.advance(minutes=5)
    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    clock.advance(minutes=5)
    await client.post(
        f"/api/v3/meeting/{meeting['id']}/cancel", headers=requester.auth, json={"reason": "Ill"}
    )
    items = await _history(client, meeting["id"], recipient)
    assert _steps(items) == [
        ("created", requester.id, None, "pending"),
        ("confirmed", recipient.id, "pending", "confirmed"),
        ("cancelled", requester.id, "confirmed", "cancelled"),
    ]
    assert [i["reason"] for i in items] == [None, None, "Ill"]
    assert items[2]["at"] == _iso(clock.now)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", i["at"]) for i in items)
    assert {i["start_time"] for i in items} == {meeting["start_time"]}


async def test_reject_with_a_reason(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    await client.post(
        f"/api/v3/meeting/{meeting['id']}/reject", headers=recipient.auth, json={"reason": "Away"}
    )
    items = await _history(client, meeting["id"], requester)
    assert _steps(items)[1:] == [("rejected", recipient.id, "pending", "rejected")]
    assert items[1]["reason"] == "Away"


async def test_cancelling_a_pending_request(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    await client.post(f"/api/v3/meeting/{meeting['id']}/cancel", headers=recipient.auth)
    items = await _history(client, meeting["id"], requester)
    assert _steps(items)[1:] == [("cancelled", recipient.id, "pending", "cancelled")]


async def test_a_refused_change_leaves_no_entry(client, trio, clock) -> None:
    requester, _recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    refused = await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=requester.auth)
    assert refused.status_code == 403
    assert len(await _history(client, meeting["id"], requester)) == 1


async def test_expired_is_recorded_once_by_the_clock(
    client, trio, clock: MovableClock, sessionmaker
) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock, days=1)
    clock.advance(days=2)
    items = await _history(client, meeting["id"], requester)
    assert _steps(items) == [
        ("created", requester.id, None, "pending"),
        ("expired", None, "pending", "expired"),
    ]
    # The change happened when the meeting started unanswered, whenever it was seen.
    assert items[1]["at"] == _iso(datetime.fromtimestamp(meeting["start_time"], UTC))
    async with sessionmaker() as session:
        stored = await session.get(Meeting, meeting["id"])
        assert stored is not None and stored.status == "expired"
    clock.advance(days=1)
    assert await _history(client, meeting["id"], recipient) == items


async def test_completed_is_recorded_by_the_clock(client, trio, clock: MovableClock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock, days=1)
    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    clock.advance(days=2)
    items = await _history(client, meeting["id"], recipient)
    assert _steps(items) == [
        ("created", requester.id, None, "pending"),
        ("confirmed", recipient.id, "pending", "confirmed"),
        ("completed", None, "confirmed", "completed"),
    ]
    assert items[2]["at"] == _iso(datetime.fromtimestamp(meeting["end_time"], UTC))
    details = await client.get(f"/api/v3/meeting/{meeting['id']}", headers=requester.auth)
    assert details.json()["status"] == "completed"


async def test_a_started_meeting_is_not_completed_yet(client, trio, clock: MovableClock) -> None:
    _, recipient, _ = trio
    meeting = await _meeting(client, trio, clock, days=1)
    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    clock.now = datetime.fromtimestamp(meeting["start_time"] + 60, UTC)
    items = await _history(client, meeting["id"], recipient)
    assert [i["action"] for i in items] == ["created", "confirmed"]


async def test_history_is_404_for_anyone_else(client, world: World, trio, clock) -> None:
    requester, _, _team_id = trio
    meeting = await _meeting(client, trio, clock)
    teammate = await world.person()
    for stranger in (teammate, await world.person()):
        response = await client.get(
            f"/api/v3/meeting/{meeting['id']}/history", headers=stranger.auth
        )
        assert response.status_code == 404
        assert response.json()["error"] == 404
    missing = await client.get(
        f"/api/v3/meeting/{meeting['id'] + 1000}/history", headers=requester.auth
    )
    assert missing.status_code == 404
    assert (await client.get(f"/api/v3/meeting/{meeting['id']}/history")).status_code == 401


async def test_the_periodic_job_writes_stale_clock_statuses(
    client, trio, clock: MovableClock, sessionmaker
) -> None:
    _, recipient, _ = trio
    unanswered = await _meeting(client, trio, clock, days=1)
    confirmed = await _meeting(client, trio, clock, days=2)
    future_one = await _meeting(client, trio, clock, days=9)
    await client.post(f"/api/v3/meeting/{confirmed['id']}/confirm", headers=recipient.auth)
    clock.advance(days=3)
    async with sessionmaker() as session, session.begin():
        assert await materialise_clock_statuses(session, clock.now, limit=1) == 1
    async with sessionmaker() as session, session.begin():
        assert await materialise_clock_statuses(session, clock.now, limit=10) == 1
    async with sessionmaker() as session, session.begin():
        assert await materialise_clock_statuses(session, clock.now, limit=10) == 0
    async with sessionmaker() as session:
        statuses = {
            m.id: m.status
            for m in await session.scalars(
                select(Meeting).where(
                    Meeting.id.in_([unanswered["id"], confirmed["id"], future_one["id"]])
                )
            )
        }
        clock_rows = await session.scalar(
            select(func.count())
            .select_from(MeetingHistory)
            .where(MeetingHistory.actor_id.is_(None))
        )
    assert statuses == {
        unanswered["id"]: "expired",
        confirmed["id"]: "completed",
        future_one["id"]: "pending",
    }
    assert clock_rows == 2
    # Reading the history afterwards writes nothing more.
    items = await _history(client, confirmed["id"], recipient)
    assert [i["action"] for i in items] == ["created", "confirmed", "completed"]


async def test_the_worker_records_clock_statuses_nobody_looked_at(
    client, trio, clock: MovableClock, app
) -> None:
    requester = trio[0]
    unanswered = await _meeting(client, trio, clock, days=1)
    clock.advance(days=2)
    sessionmaker = app.state.sessionmaker
    worker = OutboxWorker(
        sessionmaker, Providers(email=DevMailbox(sessionmaker)), app.state.settings, clock=clock
    )
    assert "clock-statuses" in await worker.run_periodic()
    async with sessionmaker() as session:
        stored = await session.get(Meeting, unanswered["id"])
        assert stored is not None and stored.status == "expired"
    entries = await _history(client, unanswered["id"], requester)
    assert [e["action"] for e in entries] == ["created", "expired"]
    assert entries[-1]["actor_id"] is None
