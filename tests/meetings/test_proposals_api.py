"""Proposing another time and rescheduling (CONTRACT §1.6), through HTTP on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import func, select, update

from meetbook.models import BusySlot, Meeting, Team
from tests.conftest import MovableClock, Person, World, create_meeting, future


@pytest.fixture
async def trio(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Rita", timezone="Europe/London")
    recipient = await world.person("Carl", timezone="America/New_York")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(
    client: httpx.AsyncClient, trio: Any, clock: MovableClock, *, days: int = 7, hour: int = 10
) -> dict[str, Any]:
    requester, recipient, team_id = trio
    response = await create_meeting(
        client, requester, recipient, team_id, future(clock, days, hour)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _confirmed(client, trio, clock, **kw: int) -> dict[str, Any]:
    meeting = await _meeting(client, trio, clock, **kw)
    response = await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=trio[1].auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _utc(clock: MovableClock, days: int, hour: int, minute: int = 0) -> str:
    """An instant `days` ahead of the test clock, with a Z."""
    day = (clock.now + timedelta(days=days)).date()
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00Z"


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


async def _propose(
    client: httpx.AsyncClient, meeting_id: int, who: Person, date: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v3/meeting/{meeting_id}/propose", json={"date": date, **body}, headers=who.auth
    )


async def _post(client: httpx.AsyncClient, meeting_id: int, path: str, who: Person, **kw: Any):
    return await client.post(f"/api/v3/meeting/{meeting_id}/{path}", headers=who.auth, **kw)


async def _pending_ids(client: httpx.AsyncClient, who: Person) -> list[int]:
    response = await client.get("/api/v3/meeting/pending", headers=who.auth)
    assert response.status_code == 200
    return [m["id"] for m in response.json()["data"]]


async def _events(client: httpx.AsyncClient, meeting_id: int, who: Person) -> list[tuple]:
    response = await client.get(f"/api/v3/meeting/{meeting_id}/notifications", headers=who.auth)
    return sorted(
        (n["event"], n["user_id"]) for n in response.json()["data"] if n["channel"] == "email"
    )


# Pending meetings: a proposal moves the request and flips whose answer is awaited ------


async def test_a_recipients_counter_proposal_moves_the_request_and_awaits_the_requester(
    client, trio, clock
) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    new = _utc(clock, 8, 16)
    clock.advance(minutes=1)

    response = await _propose(client, meeting["id"], recipient, new, reason="Mornings are full")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert body["start_time"] == _ts(new)
    assert body["end_time"] == _ts(new) + 3600
    assert body["awaiting_user_id"] == requester.id
    assert body["proposal"] is None
    assert body["sequence"] == 1  # its time changed
    assert (body["id"], body["booking_number"]) == (meeting["id"], meeting["booking_number"])
    assert body["updated_at"] != meeting["updated_at"]
    assert await _pending_ids(client, requester) == [meeting["id"]]
    assert await _pending_ids(client, recipient) == []
    refused = await _post(client, meeting["id"], "confirm", recipient)
    assert refused.status_code == 403
    confirmed = await _post(client, meeting["id"], "confirm", requester)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["awaiting_user_id"] is None
    assert ("meeting-proposed", requester.id) in await _events(client, meeting["id"], requester)


async def test_a_requester_moving_their_own_request_still_awaits_the_recipient(
    client, trio, clock
) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)

    response = await _propose(client, meeting["id"], requester, _utc(clock, 9, 15))

    assert response.status_code == 200
    assert response.json()["awaiting_user_id"] == recipient.id
    assert (await _post(client, meeting["id"], "confirm", requester)).status_code == 403
    assert (await _post(client, meeting["id"], "confirm", recipient)).status_code == 200


async def test_the_awaited_participant_may_counter_again_or_reject(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    await _propose(client, meeting["id"], recipient, _utc(clock, 8, 16))
    again = await _propose(client, meeting["id"], requester, _utc(clock, 8, 17))
    assert again.json()["awaiting_user_id"] == recipient.id
    assert again.json()["sequence"] == 2

    rejected = await _post(client, meeting["id"], "reject", recipient, json={"reason": "No"})

    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["awaiting_user_id"] is None


async def test_pending_lists_what_awaits_the_caller_soonest_first(client, trio, clock) -> None:
    requester, recipient, _ = trio
    later = await _meeting(client, trio, clock, days=9)
    sooner = await _meeting(client, trio, clock, days=5)
    countered = await _meeting(client, trio, clock, days=7)
    await _propose(client, countered["id"], recipient, _utc(clock, 6, 14))
    proposed = await _confirmed(client, trio, clock, days=3)
    await _propose(client, proposed["id"], requester, _utc(clock, 4, 18))

    assert await _pending_ids(client, recipient) == [proposed["id"], sooner["id"], later["id"]]
    assert await _pending_ids(client, requester) == [countered["id"]]
    team = await client.get(
        "/api/v3/meeting/pending", params={"team_id": trio[2] + 1000}, headers=recipient.auth
    )
    assert team.json()["data"] == []


# Confirmed meetings: a proposal the other participant accepts or declines ---------------


async def test_a_proposal_on_a_confirmed_meeting_is_held_until_answered(
    client, trio, clock
) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    new = _utc(clock, 8, 16)

    response = await _propose(client, meeting["id"], requester, new, reason="Clash")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["start_time"] == meeting["start_time"]
    assert body["sequence"] == meeting["sequence"] == 0
    assert body["awaiting_user_id"] == recipient.id
    proposal = body["proposal"]
    assert proposal["start_time"] == _ts(new)
    assert proposal["end_time"] == _ts(new) + 3600
    assert proposal["booking_date"] == new.replace("T", " ").removesuffix("Z")
    assert proposal["proposed_by"] == requester.id
    assert proposal["reason"] == "Clash"
    assert proposal["created_at"].endswith("Z")
    assert await _pending_ids(client, recipient) == [meeting["id"]]
    assert (await _post(client, meeting["id"], "proposal/accept", requester)).status_code == 403
    assert (await _post(client, meeting["id"], "proposal/decline", requester)).status_code == 403


async def test_accepting_moves_the_meeting_and_its_busy_slots(
    client, trio, clock, sessionmaker
) -> None:
    requester, recipient, team_id = trio
    meeting = await _confirmed(client, trio, clock)
    new = _utc(clock, 8, 16)
    await _propose(client, meeting["id"], requester, new)

    response = await _post(client, meeting["id"], "proposal/accept", recipient, json={})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "confirmed"
    assert (body["start_time"], body["end_time"]) == (_ts(new), _ts(new) + 3600)
    assert body["proposal"] is None
    assert body["awaiting_user_id"] is None
    assert body["sequence"] == 1
    async with sessionmaker() as session:
        slots = (
            await session.scalars(select(BusySlot).where(BusySlot.meeting_id == meeting["id"]))
        ).all()
    assert {(s.user_id, s.start_time) for s in slots} == {
        (requester.id, _ts(new)),
        (recipient.id, _ts(new)),
    }
    # The old hour is free again; the new one is taken.
    old_again = await create_meeting(client, requester, recipient, team_id, meeting["local_time"])
    assert old_again.status_code == 201
    taken = await create_meeting(client, requester, recipient, team_id, new)
    assert taken.status_code == 409
    assert await _events(client, meeting["id"], requester) == sorted(
        [
            ("meeting-created", recipient.id),
            ("meeting-confirmed", requester.id),
            ("meeting-confirmed", recipient.id),
            ("meeting-proposed", recipient.id),
            ("meeting-rescheduled", requester.id),
            ("meeting-rescheduled", recipient.id),
        ]
    )


async def test_declining_drops_the_proposal_and_tells_the_proposer(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    await _propose(client, meeting["id"], requester, _utc(clock, 8, 16))

    response = await _post(
        client, meeting["id"], "proposal/decline", recipient, json={"reason": "Busy then"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["proposal"] is None
    assert body["awaiting_user_id"] is None
    assert body["start_time"] == meeting["start_time"]
    assert body["sequence"] == 0
    assert body["reason"] is None  # the decline's reason is the history's, not the meeting's
    assert ("meeting-proposal-declined", requester.id) in await _events(
        client, meeting["id"], requester
    )
    again = await _post(client, meeting["id"], "proposal/accept", recipient)
    assert again.status_code == 409
    assert "no proposed new time" in again.json()["message"]


async def test_a_new_proposal_replaces_an_unanswered_one(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    await _propose(client, meeting["id"], requester, _utc(clock, 8, 16))
    second = await _propose(client, meeting["id"], requester, _utc(clock, 8, 17))
    assert second.json()["proposal"]["start_time"] == _ts(_utc(clock, 8, 17))

    # The awaited participant answers with a time of their own: now the other is asked.
    third = await _propose(client, meeting["id"], recipient, _utc(clock, 8, 18))

    assert third.status_code == 200
    body = third.json()
    assert body["proposal"]["start_time"] == _ts(_utc(clock, 8, 18))
    assert body["proposal"]["proposed_by"] == recipient.id
    assert body["awaiting_user_id"] == requester.id
    accepted = await _post(client, meeting["id"], "proposal/accept", requester)
    assert accepted.json()["start_time"] == _ts(_utc(clock, 8, 18))


async def test_cancelling_drops_the_proposal(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    await _propose(client, meeting["id"], requester, _utc(clock, 8, 16))

    cancelled = await _post(client, meeting["id"], "cancel", requester)

    assert cancelled.json()["proposal"] is None
    assert cancelled.json()["awaiting_user_id"] is None
    assert await _pending_ids(client, recipient) == []
    late = await _post(client, meeting["id"], "proposal/accept", recipient)
    assert late.status_code == 409
    assert "cancelled" in late.json()["message"]


async def test_accepting_a_proposal_without_one_or_as_a_stranger(client, trio, clock, world):
    _, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    stranger = await world.person()
    for path in ("proposal/accept", "proposal/decline"):
        response = await _post(client, meeting["id"], path, recipient)
        assert response.status_code == 409
        assert response.json()["message"] == "The meeting has no proposed new time to answer."
    for path in ("propose", "proposal/accept", "proposal/decline"):
        response = await _post(
            client, meeting["id"], path, stranger, json={"date": _utc(clock, 8, 9)}
        )
        assert response.status_code == 404
        assert response.json()["error"] == 404


# Refusals: closed and started meetings, date rules, overlaps ----------------------------


@pytest.mark.parametrize("state", ["rejected", "cancelled", "expired", "completed", "started"])
async def test_closed_or_started_meetings_cannot_move(client, trio, clock, state: str) -> None:
    requester, recipient, _ = trio
    make = _meeting if state in ("rejected", "expired") else _confirmed
    meeting = await make(client, trio, clock, days=1)
    if state == "rejected":
        await _post(client, meeting["id"], "reject", recipient)
    if state == "cancelled":
        await _post(client, meeting["id"], "cancel", recipient)
    target = _utc(clock, 5, 12)
    clock.advance(days={"expired": 2, "completed": 2}.get(state, 0))
    if state == "started":
        clock.now = datetime.fromtimestamp(meeting["start_time"] + 60, UTC)

    response = await _propose(client, meeting["id"], requester, target)

    assert response.status_code == 409
    message = response.json()["message"]
    assert ("has started" if state == "started" else f"is {state}") in message
    for path in ("proposal/accept", "proposal/decline"):
        assert (await _post(client, meeting["id"], path, recipient)).status_code == 409


@pytest.mark.parametrize(
    ("date", "says"),
    [
        ("", "date is required"),
        ("next tuesday-ish", "date"),
        ("01/02/2030 10:00", "date"),
        ("2020-01-01T10:00:00Z", "past"),
        ("2027-03-14 02:30", "does not exist"),  # the spring-forward gap in New York
    ],
)
async def test_the_date_rules_of_create(client, trio, clock, date: str, says: str) -> None:
    requester, _, _ = trio
    meeting = await _meeting(client, trio, clock)
    response = await _propose(client, meeting["id"], requester, date)
    assert response.status_code == 400, response.text
    assert says in response.json()["message"]
    assert response.json()["error"] == 400


async def test_a_time_without_offset_is_read_in_the_meetings_zone(client, trio, clock) -> None:
    requester, _, _ = trio  # Rita is in London; the meeting's zone is Carl's (New York)
    meeting = await _meeting(client, trio, clock)
    day = (clock.now + timedelta(days=8)).date()
    response = await _propose(client, meeting["id"], requester, f"{day} 09:00")
    local = datetime.fromtimestamp(response.json()["start_time"], UTC)
    assert response.json()["local_time"].startswith(f"{day}T09:00:00-0")
    assert local.hour in (13, 14)  # 09:00 EST/EDT


async def test_the_same_time_or_a_body_without_date_is_400(client, trio, clock) -> None:
    requester, _, _ = trio
    meeting = await _meeting(client, trio, clock)
    same = await _propose(client, meeting["id"], requester, meeting["local_time"])
    assert same.status_code == 400
    assert "current time" in same.json()["message"]
    no_body = await client.post(f"/api/v3/meeting/{meeting['id']}/propose", headers=requester.auth)
    assert no_body.status_code == 400
    long_reason = await _propose(
        client, meeting["id"], requester, _utc(clock, 8, 9), reason="x" * 501
    )
    assert long_reason.status_code == 400
    assert "reason" in long_reason.json()["message"]


async def test_the_teams_booking_policy_applies(client, trio, clock, sessionmaker) -> None:
    requester, _, team_id = trio
    meeting = await _meeting(client, trio, clock, days=2)
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Team).where(Team.id == team_id).values(max_days_ahead=3))
    response = await _propose(client, meeting["id"], requester, _utc(clock, 20, 10))
    assert response.status_code == 400
    assert response.json()["message"] == ("date: this team takes bookings at most 3 days ahead.")


async def test_a_time_overlapping_either_participants_confirmed_meeting_is_409(
    client, trio, clock, world
) -> None:
    requester, recipient, _ = trio
    other = await world.person("Olga")
    other_team = await world.team(other, recipient)
    busy = await create_meeting(client, other, recipient, other_team, _utc(clock, 8, 14))
    await _post(client, busy.json()["id"], "confirm", recipient)
    pending = await _meeting(client, trio, clock)
    confirmed = await _confirmed(client, trio, clock, hour=11)

    for meeting in (pending, confirmed):
        response = await _propose(client, meeting["id"], requester, _utc(clock, 8, 14, 30))
        assert response.status_code == 409
        assert "taken" in response.json()["message"]


async def test_accepting_rechecks_the_overlap(client, trio, clock, world) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    await _propose(client, meeting["id"], requester, _utc(clock, 8, 16))
    other = await world.person("Olga")
    other_team = await world.team(other, recipient)
    clash = await create_meeting(client, other, recipient, other_team, _utc(clock, 8, 16, 30))
    await _post(client, clash.json()["id"], "confirm", recipient)

    response = await _post(client, meeting["id"], "proposal/accept", recipient)

    assert response.status_code == 409
    assert "taken" in response.json()["message"]
    after = await client.get(f"/api/v3/meeting/{meeting['id']}", headers=recipient.auth)
    assert after.json()["start_time"] == meeting["start_time"]
    assert after.json()["proposal"] is not None


async def test_a_proposal_whose_time_passed_cannot_be_accepted(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock, days=7)
    await _propose(client, meeting["id"], requester, _utc(clock, 2, 10))
    clock.advance(days=3)
    response = await _post(client, meeting["id"], "proposal/accept", recipient)
    assert response.status_code == 409
    assert "proposed time has passed" in response.json()["message"]


# History and the calendar object ---------------------------------------------------------


async def test_history_shows_every_round(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    first = _utc(clock, 8, 16)
    await _propose(client, meeting["id"], recipient, first, reason="Later please")
    await _post(client, meeting["id"], "confirm", requester)
    await _propose(client, meeting["id"], requester, _utc(clock, 9, 9))
    await _post(client, meeting["id"], "proposal/decline", recipient, json={"reason": "No"})
    second = _utc(clock, 9, 11)
    await _propose(client, meeting["id"], recipient, second)
    await _post(client, meeting["id"], "proposal/accept", requester)

    response = await client.get(f"/api/v3/meeting/{meeting['id']}/history", headers=requester.auth)

    rows = [
        (e["action"], e["actor_id"], e["from_status"], e["to_status"], e["start_time"], e["reason"])
        for e in response.json()["data"]
    ]
    start = meeting["start_time"]
    assert rows == [
        ("created", requester.id, None, "pending", start, None),
        ("proposed", recipient.id, "pending", "pending", _ts(first), "Later please"),
        ("confirmed", requester.id, "pending", "confirmed", _ts(first), None),
        ("proposed", requester.id, "confirmed", "confirmed", _ts(first), None),
        ("proposal-declined", recipient.id, "confirmed", "confirmed", _ts(first), "No"),
        ("proposed", recipient.id, "confirmed", "confirmed", _ts(first), None),
        ("rescheduled", requester.id, "confirmed", "confirmed", _ts(second), None),
    ]


async def test_the_ics_of_a_reschedule_keeps_the_uid_with_a_higher_sequence(
    client, trio, clock
) -> None:
    requester, recipient, _ = trio
    meeting = await _confirmed(client, trio, clock)
    before = Calendar.from_ical(
        (await client.get(f"/api/v3/meeting/{meeting['id']}/ics", headers=requester.auth)).content
    )
    new = _utc(clock, 8, 16)
    await _propose(client, meeting["id"], requester, new)
    await _post(client, meeting["id"], "proposal/accept", recipient)

    after = Calendar.from_ical(
        (await client.get(f"/api/v3/meeting/{meeting['id']}/ics", headers=recipient.auth)).content
    )

    old_event, new_event = before.events[0], after.events[0]
    assert str(new_event["UID"]) == str(old_event["UID"])
    assert int(new_event["SEQUENCE"]) > int(old_event["SEQUENCE"])
    assert new_event.decoded("DTSTART") == datetime.fromisoformat(new.replace("Z", "+00:00"))
    assert new_event.decoded("DTEND") - new_event.decoded("DTSTART") == timedelta(hours=1)


# Races ------------------------------------------------------------------------------------


async def test_a_proposal_accepted_while_the_other_side_cancels(
    client, trio, clock, sessionmaker
) -> None:
    requester, recipient, _ = trio
    for round_ in range(4):
        meeting = await _confirmed(client, trio, clock, days=3 + round_)
        new = _utc(clock, 10 + round_, 16)
        await _propose(client, meeting["id"], requester, new)

        accept, cancel = await asyncio.gather(
            _post(client, meeting["id"], "proposal/accept", recipient),
            _post(client, meeting["id"], "cancel", requester),
        )

        assert {accept.status_code, cancel.status_code} <= {200, 409}
        final = (
            await client.get(f"/api/v3/meeting/{meeting['id']}", headers=requester.auth)
        ).json()
        async with sessionmaker() as session:
            slots = await session.scalar(
                select(func.count()).where(BusySlot.meeting_id == meeting["id"])
            )
        if cancel.status_code == 200:
            assert final["status"] == "cancelled"
            assert final["proposal"] is None
            assert slots == 0
        else:
            assert accept.status_code == 200
            assert final["status"] == "confirmed"
            assert final["start_time"] == _ts(new)
            assert slots == 2
        if accept.status_code == 200 and cancel.status_code == 200:
            # One after the other (SQLite serializes writes): accepted, then cancelled.
            assert final["sequence"] == 2
        assert accept.status_code == 200 or cancel.status_code == 200


async def test_two_overlapping_reschedules_for_one_person_accept_at_most_one(
    client, world, clock, sessionmaker
) -> None:
    busy = await world.person("Bea")
    others = [await world.person() for _ in range(6)]
    team_id = await world.team(busy, *others)
    ids = []
    for i, other in enumerate(others):
        created = await create_meeting(client, other, busy, team_id, _utc(clock, 3, 8 + i))
        await _post(client, created.json()["id"], "confirm", busy)
        # Each proposes a time overlapping every other's: 15:00, 15:05, ...
        proposal = await _propose(client, created.json()["id"], other, _utc(clock, 4, 15, 5 * i))
        assert proposal.status_code == 200, proposal.text
        ids.append(created.json()["id"])

    responses = await asyncio.gather(
        *(_post(client, meeting_id, "proposal/accept", busy) for meeting_id in ids)
    )

    codes = [r.status_code for r in responses]
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 409}
    async with sessionmaker() as session:
        moved = await session.scalar(
            select(func.count())
            .select_from(Meeting)
            .where(Meeting.id.in_(ids), Meeting.start_time >= _ts(_utc(clock, 4, 15)))
        )
    assert moved == 1
