"""The event registry: who is told of each change, by which channels (CONTRACT §2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from meetbook.models import Notification
from tests.conftest import World, create_meeting, future, team_with_phones


@pytest.fixture
async def pair(client, world: World):
    return await team_with_phones(client, world)


async def _outbox(sessionmaker, meeting_id: int, event: str) -> list[tuple[int, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.meeting_id == meeting_id, Notification.event == event)
            .order_by(Notification.id)
        )
        return [(n.user_id, n.channel) for n in rows]


async def _meeting(client, pair, clock) -> int:
    requester, recipient, team_id = pair
    created = await create_meeting(client, requester, recipient, team_id, future(clock))
    return int(created.json()["id"])


async def test_created_goes_to_the_recipient(client, pair, clock, sessionmaker) -> None:
    _, recipient, _ = pair
    meeting_id = await _meeting(client, pair, clock)
    assert await _outbox(sessionmaker, meeting_id, "meeting-created") == [
        (recipient.id, "email"),
        (recipient.id, "fcm"),
    ]


async def test_confirmed_alerts_the_requester_and_mails_the_confirmer_a_copy(
    client, pair, clock, sessionmaker
) -> None:
    requester, recipient, _ = pair
    meeting_id = await _meeting(client, pair, clock)
    await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    assert await _outbox(sessionmaker, meeting_id, "meeting-confirmed") == [
        (requester.id, "email"),
        (requester.id, "fcm"),
        (recipient.id, "email"),
    ]


async def test_rejected_goes_to_the_requester(client, pair, clock, sessionmaker) -> None:
    requester, recipient, _ = pair
    meeting_id = await _meeting(client, pair, clock)
    await client.post(f"/api/v3/meeting/{meeting_id}/reject", headers=recipient.auth)
    assert await _outbox(sessionmaker, meeting_id, "meeting-rejected") == [
        (requester.id, "email"),
        (requester.id, "fcm"),
    ]


@pytest.mark.parametrize("canceller", ["requester", "recipient"])
async def test_cancelling_a_request_tells_only_the_other(
    client, pair, clock, sessionmaker, canceller
) -> None:
    requester, recipient, _ = pair
    actor, other = (requester, recipient) if canceller == "requester" else (recipient, requester)
    meeting_id = await _meeting(client, pair, clock)
    await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=actor.auth)
    assert await _outbox(sessionmaker, meeting_id, "meeting-cancelled") == [
        (other.id, "email"),
        (other.id, "fcm"),
    ]


@pytest.mark.parametrize("canceller", ["requester", "recipient"])
async def test_cancelling_a_confirmed_meeting_mails_the_canceller_the_cancel_too(
    client, pair, clock, sessionmaker, canceller
) -> None:
    requester, recipient, _ = pair
    actor, other = (requester, recipient) if canceller == "requester" else (recipient, requester)
    meeting_id = await _meeting(client, pair, clock)
    await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=actor.auth)
    assert await _outbox(sessionmaker, meeting_id, "meeting-cancelled") == [
        (other.id, "email"),
        (other.id, "fcm"),
        (actor.id, "email"),
    ]
