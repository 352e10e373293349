"""Confirm, reject, cancel, details; statuses derived from the clock."""

from __future__ import annotations

import pytest

from tests.conftest import MovableClock, World, create_meeting, future


@pytest.fixture
async def trio(world: World):
    requester = await world.person("Rita", timezone="Europe/London")
    recipient = await world.person("Carl", timezone="America/New_York")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(client, trio, clock, hour=10, days=7) -> int:
    requester, recipient, team_id = trio
    response = await create_meeting(
        client, requester, recipient, team_id, future(clock, days, hour)
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_recipient_confirms(client, trio, clock: MovableClock) -> None:
    _, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    clock.advance(minutes=5)
    response = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "confirmed"
    assert body["updated_at"] != body["created_at"]


async def test_requester_cannot_confirm_or_reject(client, trio, clock) -> None:
    requester, _, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    for action in ("confirm", "reject"):
        response = await client.post(
            f"/api/v3/meeting/{meeting_id}/{action}", headers=requester.auth
        )
        assert response.status_code == 403


async def test_confirming_twice_is_409_naming_the_status(client, trio, clock) -> None:
    _, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    response = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    assert response.status_code == 409
    assert "confirmed" in response.json()["message"]


async def test_reject_with_reason(client, trio, clock) -> None:
    _, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    response = await client.post(
        f"/api/v3/meeting/{meeting_id}/reject",
        headers=recipient.auth,
        json={"reason": "Travelling"},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["reason"] == "Travelling"


async def test_reason_longer_than_500_is_400(client, trio, clock) -> None:
    _, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    response = await client.post(
        f"/api/v3/meeting/{meeting_id}/reject", headers=recipient.auth, json={"reason": "x" * 501}
    )
    assert response.status_code == 400
    assert "reason" in response.json()["message"]


@pytest.mark.parametrize("who", ["requester", "recipient"])
async def test_either_participant_cancels_pending_or_confirmed(client, trio, clock, who) -> None:
    requester, recipient, _ = trio
    actor = requester if who == "requester" else recipient
    pending = await _meeting(client, trio, clock, hour=9)
    confirmed = await _meeting(client, trio, clock, hour=12)
    await client.post(f"/api/v3/meeting/{confirmed}/confirm", headers=recipient.auth)
    for meeting_id in (pending, confirmed):
        response = await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=actor.auth)
        assert response.status_code == 200
        assert response.json()["status"] == "cancelled"


async def test_cancelling_frees_the_slot(client, trio, clock) -> None:
    requester, recipient, team_id = trio
    first = await _meeting(client, trio, clock, hour=10)
    await client.post(f"/api/v3/meeting/{first}/confirm", headers=recipient.auth)
    blocked = await create_meeting(client, requester, recipient, team_id, future(clock, 7, 10))
    assert blocked.status_code == 409
    await client.post(f"/api/v3/meeting/{first}/cancel", headers=requester.auth)
    again = await create_meeting(client, requester, recipient, team_id, future(clock, 7, 10))
    assert again.status_code == 201


async def test_pending_past_its_start_reads_expired_and_cannot_be_confirmed(
    client, trio, clock: MovableClock
) -> None:
    _, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock, days=1)
    clock.advance(days=2)
    details = await client.get(f"/api/v3/meeting/{meeting_id}", headers=recipient.auth)
    assert details.json()["status"] == "expired"
    response = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    assert response.status_code == 409
    assert "expired" in response.json()["message"]
    listed = await client.get("/api/v3/meeting/list?status=expired", headers=recipient.auth)
    assert [m["id"] for m in listed.json()["data"]] == [meeting_id]
    pending = await client.get("/api/v3/meeting/pending", headers=recipient.auth)
    assert pending.json()["data"] == []


async def test_confirmed_past_its_end_reads_completed(client, trio, clock: MovableClock) -> None:
    requester, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock, days=1)
    await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    clock.advance(days=2)
    for person in (requester, recipient):
        details = await client.get(f"/api/v3/meeting/{meeting_id}", headers=person.auth)
        assert details.json()["status"] == "completed"
    listed = await client.get("/api/v3/meeting/list?status=confirmed", headers=recipient.auth)
    assert listed.json()["data"] == []
    listed = await client.get("/api/v3/meeting/list?status=completed", headers=recipient.auth)
    assert [m["id"] for m in listed.json()["data"]] == [meeting_id]
    response = await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=recipient.auth)
    assert response.status_code == 409


async def test_confirm_refuses_overlap_with_requesters_confirmed_meeting(
    client, world: World, trio, clock
) -> None:
    requester, recipient, team_id = trio
    third = await world.person()
    other_team = await world.team(requester, third)
    slot = future(clock, 7, 10) + "Z"  # the same instant for people in different zones
    theirs = await create_meeting(client, third, requester, other_team, slot)
    await client.post(f"/api/v3/meeting/{theirs.json()['id']}/confirm", headers=requester.auth)
    ours = (await create_meeting(client, requester, recipient, team_id, slot)).json()["id"]
    response = await client.post(f"/api/v3/meeting/{ours}/confirm", headers=recipient.auth)
    assert response.status_code == 409
    assert "requester" in response.json()["message"]
