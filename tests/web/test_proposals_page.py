"""The meeting page's new-time forms (CONTRACT §3): propose, accept, decline, withdraw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from meetbook.meetings import service
from meetbook.models import User

from .conftest import World, sign_in


async def _confirm(app: FastAPI, meeting_id: int, recipient_id: int) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        user = await session.get(User, recipient_id)
        assert user is not None
        await service.confirm_meeting(session, meeting_id, user, datetime.now(UTC))


def _local_input(days: int, hour: int) -> str:
    day = (datetime.now(UTC) + timedelta(days=days)).date()
    return f"{day}T{hour:02d}:00"


async def test_a_requesters_pending_request_offers_withdraw_and_propose(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    meeting_id = await world.meeting(ana, ben, team, days=3)
    csrf = await sign_in(client, ana)

    page = await client.get(f"/meetings/{meeting_id}")

    assert "Withdraw request…" in page.text
    assert "Cancel…" not in page.text
    assert f'action="/meetings/{meeting_id}/propose"' in page.text
    assert 'New date and time <span class="optional">(in America/New_York)' in page.text
    assert f'href="/meetings/{meeting_id}/ics"' in page.text

    response = await client.post(
        f"/meetings/{meeting_id}/propose",
        data={"csrf_token": csrf, "date": _local_input(5, 9), "reason": "Earlier is better"},
    )

    assert response.status_code == 303
    stored = await world.stored(meeting_id)
    local = datetime.fromtimestamp(stored.start_time, ZoneInfo("America/New_York"))
    assert (local.date(), local.hour) == ((datetime.now(UTC) + timedelta(days=5)).date(), 9)
    assert stored.awaiting_user_id == ben.id
    after = await client.get(f"/meetings/{meeting_id}")
    assert "You proposed another time" in after.text
    assert "Earlier is better" in after.text


async def test_a_bad_proposed_time_is_an_error_and_changes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    meeting_id = await world.meeting(ana, ben, team, days=3)
    before = await world.stored(meeting_id)
    csrf = await sign_in(client, ben)

    response = await client.post(
        f"/meetings/{meeting_id}/propose",
        data={"csrf_token": csrf, "date": "2001-01-01T10:00", "back": f"/meetings/{meeting_id}"},
    )

    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "past" in page.text
    assert (await world.stored(meeting_id)).start_time == before.start_time


async def test_a_proposal_is_accepted_or_declined_on_the_page(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    first = await world.meeting(ana, ben, team, days=3)
    second = await world.meeting(ana, ben, team, days=4)
    for meeting_id in (first, second):
        await _confirm(app, meeting_id, ben.id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as ana_browser:
        ana_csrf = await sign_in(ana_browser, ana)
        for meeting_id, hour in ((first, 11), (second, 12)):
            response = await ana_browser.post(
                f"/meetings/{meeting_id}/propose",
                data={"csrf_token": ana_csrf, "date": _local_input(6, hour)},
            )
            assert response.status_code == 303
    csrf = await sign_in(client, ben, "/meetings?tab=pending-meeting")

    pending = await client.get("/meetings?tab=pending-meeting")
    assert f'id="meeting-{first}"' in pending.text
    assert "Ana Lima proposes moving it to" in pending.text
    page = await client.get(f"/meetings/{first}")
    assert "Accept the new time" in page.text
    assert "Decline…" in page.text

    accepted = await client.post(f"/meetings/{first}/accept", data={"csrf_token": csrf})
    declined = await client.post(
        f"/meetings/{second}/decline", data={"csrf_token": csrf, "reason": "Busy"}
    )

    assert accepted.status_code == declined.status_code == 303
    moved, kept = await world.stored(first), await world.stored(second)
    local = datetime.fromtimestamp(moved.start_time, ZoneInfo("America/New_York"))
    assert (local.hour, moved.sequence, moved.proposed_start) == (11, 1, None)
    assert (kept.sequence, kept.proposed_start) == (0, None)
    history = (await client.get(f"/meetings/{first}")).text
    assert "You accepted the new time" in history
    assert "Ana Lima proposed another time" in history
    assert "You declined the new time" in (await client.get(f"/meetings/{second}")).text
