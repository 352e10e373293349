"""Concurrent requests over real database connections: one winner, no double booking."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from meetbook.models import Meeting, Notification
from tests.conftest import World, create_meeting, future


async def test_twenty_concurrent_confirms_one_succeeds(
    client, world: World, clock, sessionmaker
) -> None:
    requester = await world.person()
    recipient = await world.person()
    team_id = await world.team(requester, recipient)
    meeting_id = (
        await create_meeting(client, requester, recipient, team_id, future(clock))
    ).json()["id"]
    responses = await asyncio.gather(
        *(
            client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
            for _ in range(20)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, codes
    assert set(codes) == {200, 409}, codes
    async with sessionmaker() as session:
        confirmations = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.meeting_id == meeting_id, Notification.event == "meeting-confirmed")
        )
    assert confirmations == 2  # requester + recipient emails, written once


async def test_mixed_concurrent_transitions_one_succeeds(client, world: World, clock) -> None:
    requester = await world.person()
    recipient = await world.person()
    team_id = await world.team(requester, recipient)
    meeting_id = (
        await create_meeting(client, requester, recipient, team_id, future(clock))
    ).json()["id"]
    calls = []
    for i in range(30):
        action = ("confirm", "reject", "cancel")[i % 3]
        actor = requester if action == "cancel" and i % 2 else recipient
        calls.append(client.post(f"/api/v3/meeting/{meeting_id}/{action}", headers=actor.auth))
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} <= {200, 409}
    won = sorted(r.json()["status"] for r in responses if r.status_code == 200)
    # Exactly one change leaves `pending`; the only legal second change is cancelling the
    # confirmed meeting (pending → confirmed → cancelled), never two exits from pending.
    assert won in (["confirmed"], ["rejected"], ["cancelled"], ["cancelled", "confirmed"]), won
    final = (await client.get(f"/api/v3/meeting/{meeting_id}", headers=requester.auth)).json()
    assert final["status"] == ("cancelled" if "cancelled" in won else won[0])


async def test_concurrent_confirms_of_overlapping_meetings_confirm_at_most_one(
    client, world: World, clock, sessionmaker
) -> None:
    recipient = await world.person()
    requesters = [await world.person() for _ in range(8)]
    team_id = await world.team(recipient, *requesters)
    base = clock.now + timedelta(days=2)
    ids = []
    for i, requester in enumerate(requesters):
        start = (base + timedelta(minutes=6 * i)).strftime("%Y-%m-%dT%H:%M:00Z")
        response = await create_meeting(client, requester, recipient, team_id, start)
        ids.append(response.json()["id"])
    responses = await asyncio.gather(
        *(client.post(f"/api/v3/meeting/{i}/confirm", headers=recipient.auth) for i in ids)
    )
    assert sum(r.status_code == 200 for r in responses) == 1, [r.status_code for r in responses]
    assert all(r.status_code in (200, 409) for r in responses)
    async with sessionmaker() as session:
        confirmed = await session.scalar(
            select(func.count()).select_from(Meeting).where(Meeting.status == "confirmed")
        )
    assert confirmed == 1


async def test_ten_concurrent_creates_with_one_idempotency_key_make_one_meeting(
    client, world: World, clock, sessionmaker
) -> None:
    requester = await world.person()
    recipient = await world.person()
    team_id = await world.team(requester, recipient)
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock)}
    headers = {**requester.auth, "Idempotency-Key": "retry-abc-123"}
    responses = await asyncio.gather(
        *(client.post("/api/v3/meeting/create", json=body, headers=headers) for _ in range(10))
    )
    ok = [r for r in responses if r.status_code == 201]
    # A retry that arrives while the first is still in flight may be told to retry (409);
    # none may create a second meeting.
    assert ok and all(r.status_code in (201, 409) for r in responses), [
        r.status_code for r in responses
    ]
    assert len({r.json()["id"] for r in ok}) == 1
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(Meeting))
    assert count == 1
    again = await client.post("/api/v3/meeting/create", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == ok[0].json()
