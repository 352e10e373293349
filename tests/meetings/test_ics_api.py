"""GET /api/v3/meeting/{id}/ics and the meeting's `sequence`."""

from __future__ import annotations

import pytest
from icalendar import Calendar
from sqlalchemy import select

from meetbook.models import Notification
from tests.conftest import World, create_meeting, future


@pytest.fixture
async def trio(world: World):
    requester = await world.person("Rita")
    recipient = await world.person("Carl")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(client, trio, clock, hour: int = 10) -> dict:
    requester, recipient, team_id = trio
    response = await create_meeting(client, requester, recipient, team_id, future(clock, 3, hour))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _ics(client, meeting_id: int, person):
    response = await client.get(f"/api/v3/meeting/{meeting_id}/ics", headers=person.auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    [event] = calendar.events
    return calendar, event


async def test_a_pending_meeting_is_published_tentative(client, trio, clock) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    assert meeting["sequence"] == 0
    assert meeting["awaiting_user_id"] == recipient.id
    for person in (requester, recipient):
        calendar, event = await _ics(client, meeting["id"], person)
        assert calendar["METHOD"] == "PUBLISH"
        assert event["UID"] == f"meeting-{meeting['booking_number']}@meetbook.test"
        assert event["SEQUENCE"] == 0
        assert event["STATUS"] == "TENTATIVE"
        assert int(event["DTSTART"].dt.timestamp()) == meeting["start_time"]
        assert int(event["DTEND"].dt.timestamp()) == meeting["end_time"]


async def test_confirm_keeps_sequence_0_and_cancel_raises_it(
    client, trio, clock, sessionmaker
) -> None:
    requester, recipient, _ = trio
    meeting = await _meeting(client, trio, clock)
    confirmed = await client.post(
        f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth
    )
    assert (confirmed.json()["sequence"], confirmed.json()["awaiting_user_id"]) == (0, None)
    _, event = await _ics(client, meeting["id"], requester)
    assert (event["SEQUENCE"], event["STATUS"]) == (0, "CONFIRMED")
    cancelled = await client.post(f"/api/v3/meeting/{meeting['id']}/cancel", headers=requester.auth)
    assert cancelled.json()["sequence"] == 1
    _, event = await _ics(client, meeting["id"], recipient)
    assert (event["SEQUENCE"], event["STATUS"]) == (1, "CANCELLED")
    # The invites the worker will send carry the same SEQUENCE as the .ics.
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(Notification)
                .where(
                    Notification.meeting_id == meeting["id"],
                    Notification.channel == "email",
                    Notification.schedule_key.is_(None),  # not the timed notices
                )
                .order_by(Notification.id)
            )
        ).all()
    sent = [(n.event, n.user_id, n.context.get("sequence")) for n in rows]
    assert sent == [
        ("meeting-created", recipient.id, 0),
        ("meeting-confirmed", requester.id, 0),
        ("meeting-confirmed", recipient.id, 0),
        ("meeting-cancelled", recipient.id, 1),
        ("meeting-cancelled", requester.id, 1),
    ]


async def test_cancelling_a_pending_request_leaves_the_sequence(client, trio, clock) -> None:
    requester, _, _ = trio
    meeting = await _meeting(client, trio, clock)
    cancelled = await client.post(f"/api/v3/meeting/{meeting['id']}/cancel", headers=requester.auth)
    assert cancelled.json()["sequence"] == 0
    _, event = await _ics(client, meeting["id"], requester)
    assert (event["SEQUENCE"], event["STATUS"]) == (0, "CANCELLED")


async def test_the_ics_is_404_for_anyone_else(client, world: World, trio, clock) -> None:
    requester, _, _team_id = trio
    meeting = await _meeting(client, trio, clock)
    teammate = await world.person()
    await world.team(teammate)
    response = await client.get(f"/api/v3/meeting/{meeting['id']}/ics", headers=teammate.auth)
    assert response.status_code == 404
    assert response.json()["error"] == 404
    missing = await client.get(
        f"/api/v3/meeting/{meeting['id'] + 1000}/ics", headers=requester.auth
    )
    assert missing.status_code == 404
    assert (await client.get(f"/api/v3/meeting/{meeting['id']}/ics")).status_code == 401
