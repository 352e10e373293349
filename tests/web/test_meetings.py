"""The meeting pages: tabs, actions, and the "Request a meeting" form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from meetbook.meetings.machine import allowed_actions
from meetbook.models import Meeting

from .conftest import World, csrf_of, sign_in


async def test_confirm_moves_the_request_to_upcoming(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    meeting_id = await world.meeting(ana, ben, team)
    csrf = await sign_in(client, ben, "/meetings?tab=pending-meeting")

    pending = await client.get("/meetings?tab=pending-meeting")
    assert f'id="meeting-{meeting_id}"' in pending.text
    assert "Ana Lima asks to meet you" in pending.text

    response = await client.post(
        f"/meetings/{meeting_id}/confirm",
        data={"csrf_token": csrf, "back": "/meetings?tab=pending-meeting"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/meetings?tab=pending-meeting"
    after = await client.get(response.headers["location"])
    assert "Confirmed the meeting with Ana Lima" in after.text
    assert f'id="meeting-{meeting_id}"' not in after.text
    upcoming = await client.get("/meetings?tab=upcoming")
    assert f'id="meeting-{meeting_id}"' in upcoming.text
    assert (await world.stored(meeting_id)).status == "confirmed"


async def test_the_flash_message_shows_once(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ben)
    await client.post(f"/meetings/{meeting_id}/confirm", data={"csrf_token": csrf})
    first = await client.get("/meetings?tab=upcoming")
    second = await client.get("/meetings?tab=upcoming")
    assert "Confirmed the meeting" in first.text
    assert "Confirmed the meeting" not in second.text


async def test_reject_with_a_reason(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ben)
    response = await client.post(
        f"/meetings/{meeting_id}/reject",
        data={"csrf_token": csrf, "reason": "  I am on leave that week.  "},
    )
    assert response.status_code == 303
    stored = await world.stored(meeting_id)
    assert stored.status == "rejected"
    assert stored.reason == "I am on leave that week."
    past = await client.get("/meetings?tab=past")
    assert "I am on leave that week." in past.text


async def test_a_too_long_reason_is_an_error_and_changes_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ben)
    response = await client.post(
        f"/meetings/{meeting_id}/reject", data={"csrf_token": csrf, "reason": "x" * 501}
    )
    page = await client.get(response.headers["location"])
    assert "alert-error" in page.text
    assert "500" in page.text
    assert (await world.stored(meeting_id)).status == "pending"


async def test_the_requester_cannot_confirm(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ana)
    sent = await client.get("/meetings?tab=sent")
    assert f"/meetings/{meeting_id}/confirm" not in sent.text
    response = await client.post(f"/meetings/{meeting_id}/confirm", data={"csrf_token": csrf})
    page = await client.get(response.headers["location"])
    assert "You are not the one whose answer is awaited." in page.text
    assert (await world.stored(meeting_id)).status == "pending"


async def test_cancel_a_sent_request(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ana)
    response = await client.post(
        f"/meetings/{meeting_id}/cancel",
        data={"csrf_token": csrf, "back": "/meetings?tab=sent", "reason": ""},
    )
    assert response.headers["location"] == "/meetings?tab=sent"
    assert (await world.stored(meeting_id)).status == "cancelled"
    assert "Withdrew your request to Ben Carter" in (await client.get("/meetings?tab=sent")).text


async def test_a_confirm_without_csrf_token_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    await sign_in(client, ben)
    for data in ({}, {"csrf_token": "0" * 64}):
        response = await client.post(f"/meetings/{meeting_id}/confirm", data=data)
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "nothing was changed" in response.text
    assert (await world.stored(meeting_id)).status == "pending"


async def test_someone_elses_meeting_is_not_found(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    eve = await world.person("Eve", "UTC")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, eve)
    page = await client.get(f"/meetings/{meeting_id}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    response = await client.post(f"/meetings/{meeting_id}/cancel", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert (await world.stored(meeting_id)).status == "pending"


async def test_times_are_shown_in_the_viewers_zone(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person("Ana Lima", "Asia/Kolkata")
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    stored = await world.stored(meeting_id)
    await sign_in(client, ana)
    page = await client.get(f"/meetings/{meeting_id}")
    start = datetime.fromtimestamp(stored.start_time, UTC)
    kolkata = start.astimezone(ZoneInfo("Asia/Kolkata"))
    new_york = start.astimezone(ZoneInfo("America/New_York"))
    assert f"{kolkata:%H:%M}–" in page.text and "IST" in page.text
    assert "(Asia/Kolkata)" in page.text
    # The requester also sees the time on the recipient's clock.
    assert f"{new_york:%H:%M} E" in page.text and "(America/New_York)" in page.text


async def test_an_unknown_tab_goes_to_pending(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, await world.person())
    response = await client.get("/meetings?tab=nope")
    assert response.status_code == 303
    assert response.headers["location"] == "/meetings?tab=pending-meeting"


async def test_lists_are_paginated(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    ids = [await world.meeting(ana, ben, team, days=3 + n / 24) for n in range(21)]
    await sign_in(client, ben)
    first = await client.get("/meetings?tab=pending-meeting")
    found = re.findall(r'id="meeting-(\d+)"', first.text)
    assert len(found) == 20
    more = re.search(r'href="(/meetings\?tab=pending-meeting&amp;cursor=[^"]+)"', first.text)
    assert more
    second = await client.get(more.group(1).replace("&amp;", "&"))
    assert re.findall(r'id="meeting-(\d+)"', second.text) == [str(ids[-1])]
    broken = await client.get("/meetings?tab=pending-meeting&cursor=nonsense")
    assert broken.status_code == 400


async def test_empty_tabs_say_what_to_do(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, await world.person())
    page = await client.get("/meetings?tab=pending-meeting")
    assert "Nothing is waiting for you" in page.text
    sent = await client.get("/meetings?tab=sent")
    assert "Ask a teammate for a meeting" in sent.text


# Request a meeting ---------------------------------------------------------------------


async def _request_form(client: httpx.AsyncClient, team: int) -> str:
    page = await client.get(f"/meetings/new?team={team}")
    assert page.status_code == 200
    return csrf_of(page.text)


async def test_request_a_meeting_in_the_recipients_zone(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    chitra = await world.person("Chitra Rao", "Asia/Kolkata")
    team = await world.team(ana, chitra)
    await sign_in(client, ana)
    csrf = await _request_form(client, team)
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    response = await client.post(
        "/meetings/new",
        data={
            "csrf_token": csrf,
            "team_id": str(team),
            "user_id": str(chitra.id),
            "date": f"{day}T15:00",
            "link": "https://meet.example.com/abc",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/meetings?tab=sent"
    page = await client.get("/meetings?tab=sent")
    assert "Requested a meeting with Chitra Rao" in page.text
    meeting_id = int(re.findall(r'id="meeting-(\d+)"', page.text)[0])
    stored = await world.stored(meeting_id)
    expected = datetime(day.year, day.month, day.day, 15, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert stored.start_time == int(expected.timestamp())
    assert stored.link == "https://meet.example.com/abc"


async def test_the_form_lists_teammates_with_their_zone(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    page = await client.get(f"/meetings/new?team={team}&member={ben.id}")
    assert "Ben Carter — America/New_York (UTC−0" in page.text
    assert "Ana Lima —" not in page.text  # not yourself
    assert "Ben Carter’s clock" in page.text


async def _post_request(
    client: httpx.AsyncClient, csrf: str, team: int, user_id: int, date: str, link: str = ""
) -> httpx.Response:
    return await client.post(
        "/meetings/new",
        data={
            "csrf_token": csrf,
            "team_id": str(team),
            "user_id": str(user_id),
            "date": date,
            "link": link,
        },
    )


def _error_of(html: str, field: str) -> str:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', html)
    assert found, f"no error next to {field}"
    return found.group(1)


async def test_a_past_date_is_shown_next_to_the_date_with_values_kept(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    csrf = await _request_form(client, team)
    response = await _post_request(
        client, csrf, team, ben.id, "2020-01-06T10:00", "https://meet.example.com/x"
    )
    assert response.status_code == 400
    assert "in the past" in _error_of(response.text, "date")
    assert 'value="2020-01-06T10:00"' in response.text
    assert 'value="https://meet.example.com/x"' in response.text
    assert f'<option value="{ben.id}" data-name' in response.text
    assert re.search(rf'<option value="{ben.id}"[^>]* selected>', response.text)


async def test_a_time_in_the_dst_gap_is_explained(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    csrf = await _request_form(client, team)
    # Clocks in New York jump from 02:00 to 03:00 on the second Sunday of March.
    year = datetime.now(UTC).year + 1
    march = datetime(year, 3, 8)
    gap_day = march + timedelta(days=(6 - march.weekday()) % 7)
    response = await _post_request(client, csrf, team, ben.id, f"{gap_day:%Y-%m-%d}T02:30")
    assert response.status_code == 400
    assert "does not exist as a local time in America/New_York" in _error_of(response.text, "date")


async def test_a_taken_slot_is_shown_next_to_the_date(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    cleo = await world.person("Cleo", "UTC")
    team = await world.team(ana, ben, cleo)
    busy = await world.meeting(cleo, ben, team, days=5)
    csrf = await sign_in(client, ben)
    await client.post(f"/meetings/{busy}/confirm", data={"csrf_token": csrf})
    client.cookies.clear()
    await sign_in(client, ana)
    csrf = await _request_form(client, team)
    start = datetime.fromtimestamp((await world.stored(busy)).start_time, UTC)
    local = start.astimezone(ZoneInfo("America/New_York"))
    response = await _post_request(client, csrf, team, ben.id, f"{local:%Y-%m-%dT%H:%M}")
    assert response.status_code == 409
    assert "slot is taken" in _error_of(response.text, "date")


async def test_missing_fields_are_named(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    csrf = await _request_form(client, team)
    response = await _post_request(client, csrf, team, ben.id, "", "ftp://nope")
    assert response.status_code == 400
    assert _error_of(response.text, "date") == "Enter the date and time of the meeting."
    bad_link = await _post_request(client, csrf, team, ben.id, "2099-01-05T10:00", "ftp://nope")
    assert bad_link.status_code == 400
    assert "http" in _error_of(bad_link.text, "link")


async def test_someone_without_a_team_is_told_what_to_do(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, await world.person())
    page = await client.get("/meetings/new")
    assert "You are not in a team yet" in page.text


async def test_with_several_teams_the_team_is_chosen_first(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    ben = await world.person("Ben Carter", "America/New_York")
    cleo = await world.person("Cleo Diaz", "Europe/Madrid")
    design = await world.team(ana, ben, name="Design")
    sales = await world.team(ana, cleo, name="Sales")
    await sign_in(client, ana)
    start = await client.get("/meetings/new")
    assert '<select id="team" name="team">' in start.text
    assert "Choose a team" in start.text
    assert 'id="user_id"' not in start.text  # no members before a team is chosen
    assert "Show members" in start.text  # the no-JavaScript way on
    chosen = await client.get(f"/meetings/new?team={sales}")
    assert f'<option value="{sales}" selected>' in chosen.text
    assert "Cleo Diaz — Europe/Madrid" in chosen.text
    assert "Ben Carter" not in chosen.text
    other = await client.get(f"/meetings/new?team={design}")
    assert "Ben Carter — America/New_York" in other.text
    foreign = await client.get("/meetings/new?team=999999")
    assert 'id="user_id"' not in foreign.text


# The state machine on the page -----------------------------------------------------------


def _offered(html: str, meeting_id: int) -> tuple[str, ...]:
    return tuple(re.findall(rf'action="/meetings/{meeting_id}/(\w+)"', html))


async def test_the_buttons_are_the_machines_allowed_actions(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    pending = await world.meeting(ana, ben, team, days=2)
    confirmed = await world.meeting(ana, ben, team, days=3)
    rejected = await world.meeting(ana, ben, team, days=4)
    csrf = await sign_in(client, ben)
    await client.post(f"/meetings/{confirmed}/confirm", data={"csrf_token": csrf})
    await client.post(f"/meetings/{rejected}/reject", data={"csrf_token": csrf})
    expected = {
        ("ben", pending): ("confirm", "reject", "propose"),
        ("ben", confirmed): ("propose", "cancel"),
        ("ben", rejected): (),
        ("ana", pending): ("propose", "cancel"),
        ("ana", confirmed): ("propose", "cancel"),
        ("ana", rejected): (),
    }
    for viewer in ("ben", "ana"):
        if viewer == "ana":
            client.cookies.clear()
            await sign_in(client, ana)
        person = ben if viewer == "ben" else ana
        for meeting_id in (pending, confirmed, rejected):
            page = await client.get(f"/meetings/{meeting_id}")
            stored = await world.stored(meeting_id)
            allowed = allowed_actions(stored, person.id, datetime.now(UTC))
            assert _offered(page.text, meeting_id) == allowed == expected[(viewer, meeting_id)]


async def test_the_meeting_page_shows_its_history(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person("Ana Lima")
    ben = await world.person("Ben Carter", "America/New_York")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    csrf = await sign_in(client, ben)
    await client.post(
        f"/meetings/{meeting_id}/cancel", data={"csrf_token": csrf, "reason": "Off sick"}
    )
    page = await client.get(f"/meetings/{meeting_id}")
    assert '<h2 id="history-heading">History</h2>' in page.text
    entries = re.findall(r'<span class="history-text">([^<]+)</span>', page.text)
    assert entries == ["Ana Lima requested the meeting", "You cancelled"]
    assert "Off sick" in page.text


async def test_the_meeting_page_offers_its_ics(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person("Ana Lima")
    ben = await world.person("Ben Carter", "America/New_York")
    eve = await world.person("Eve", "UTC")
    meeting_id = await world.meeting(ana, ben, await world.team(ana, ben))
    await sign_in(client, ana)
    page = await client.get(f"/meetings/{meeting_id}")
    assert f'href="/meetings/{meeting_id}/ics"' in page.text
    ics = await client.get(f"/meetings/{meeting_id}/ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert b"METHOD:PUBLISH" in ics.content
    async with world.app.state.sessionmaker() as session:
        stored = await session.get(Meeting, meeting_id)
    assert stored is not None
    booking = stored.booking_number
    assert f"UID:meeting-{booking}@testserver".encode() in ics.content
    client.cookies.clear()
    await sign_in(client, eve)
    assert (await client.get(f"/meetings/{meeting_id}/ics")).status_code == 404
