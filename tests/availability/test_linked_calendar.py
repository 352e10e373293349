"""The linked CalDAV calendar (CONTRACT §1.7) against a real Radicale server: linking,
busy times in free slots, the confirm's conflict check, and the write-through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text, update

from meetbook.availability import caldav_client
from meetbook.availability.caldav_client import Account
from meetbook.availability.encryption import CannotDecrypt, decrypt_password, encrypt_password
from meetbook.models import LinkedCalendar
from meetbook.notifications.ics import invite_uid
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.providers import Providers
from meetbook.notifications.worker import OutboxWorker
from tests.availability.conftest import Radicale, free_port, vevent
from tests.conftest import MovableClock, Person, World, create_meeting
from tests.notifications.conftest import silent_port  # noqa: F401 (a fixture)
from tests.test_errors import assert_envelope

BERLIN = ZoneInfo("Europe/Berlin")


def slots_url(team_id: int, user_id: int) -> str:
    return f"/api/v3/teams/{team_id}/members/{user_id}/free-slots"


def local_starts(response) -> list[str]:
    """The slots' starts as Berlin wall-clock "HH:MM"."""
    assert response.status_code == 200, response.text
    return [
        datetime.fromtimestamp(slot["start_time"], UTC).astimezone(BERLIN).strftime("%H:%M")
        for slot in response.json()["data"]
    ]


async def link(client, person: Person, radicale: Radicale, url: str):
    body = {"url": url, "username": radicale.username, "password": radicale.password}
    return await client.put("/api/v3/me/calendar", json=body, headers=person.auth)


@pytest.fixture
async def pair(world: World, clock: MovableClock):
    """Ana asks; Ben (Europe/Berlin, default hours 09:00-17:00) has a calendar in Radicale."""
    ana = await world.person("Ana", timezone="Europe/Berlin")
    ben = await world.person("Ben", timezone="Europe/Berlin")
    return ana, ben, await world.team(ana, ben)


# Linking ---------------------------------------------------------------------------------


async def test_link_shows_the_calendar_without_its_password_and_unlinks(
    client, pair, radicale: Radicale
) -> None:
    _ana, ben, _team = pair
    url = radicale.new_calendar()
    response = await link(client, ben, radicale, url)
    assert response.status_code == 200, response.text
    shown = await client.get("/api/v3/me/calendar", headers=ben.auth)
    assert shown.status_code == 200
    assert set(shown.json()) == {"url", "username", "linked_at"}
    assert shown.json()["url"] == url and shown.json()["username"] == radicale.username
    assert radicale.password not in shown.text
    assert (await client.delete("/api/v3/me/calendar", headers=ben.auth)).status_code == 204
    gone = await client.get("/api/v3/me/calendar", headers=ben.auth)
    assert_envelope(gone, 404)


async def test_a_calendar_that_cannot_be_read_is_refused_with_the_servers_reason(
    client, pair, radicale: Radicale
) -> None:
    _ana, ben, _team = pair
    url = radicale.new_calendar()
    wrong = {"url": url, "username": radicale.username, "password": "not-the-password"}
    refused = await client.put("/api/v3/me/calendar", json=wrong, headers=ben.auth)
    assert_envelope(refused, 400)
    assert "401" in refused.json()["message"]
    missing = await link(client, ben, radicale, radicale.base + "ana/no-such-calendar/")
    assert_envelope(missing, 400)
    assert "404" in missing.json()["message"]
    down = await link(client, ben, radicale, f"http://127.0.0.1:{free_port()}/cal/")
    assert_envelope(down, 400)
    assert "could not be reached" in down.json()["message"]
    assert (await client.get("/api/v3/me/calendar", headers=ben.auth)).status_code == 404


async def test_a_private_address_is_refused_unless_allowed(app, client, pair, radicale) -> None:
    _ana, ben, _team = pair
    app.state.settings = app.state.settings.model_copy(update={"allow_private_targets": False})
    refused = await link(client, ben, radicale, radicale.new_calendar())
    assert_envelope(refused, 400)
    assert "url" in refused.json()["message"] and "https" in refused.json()["message"]


async def test_the_password_is_not_readable_in_the_database(
    client, pair, radicale: Radicale, sessionmaker
) -> None:
    _ana, ben, _team = pair
    assert (await link(client, ben, radicale, radicale.new_calendar())).status_code == 200
    async with sessionmaker() as session:
        rows = (await session.execute(text("SELECT * FROM linked_calendars"))).all()
    assert len(rows) == 1
    assert radicale.password not in repr(tuple(rows[0]))


async def test_bad_bodies_get_the_error_envelope(client, pair) -> None:
    _ana, ben, _team = pair
    for body in ({}, {"url": "x"}, {"url": 5, "username": "a", "password": "b"}):
        response = await client.put("/api/v3/me/calendar", json=body, headers=ben.auth)
        assert_envelope(response, 400)


# Busy times in free slots ------------------------------------------------------------------


@pytest.fixture(scope="session")
def busy_calendar(radicale: Radicale) -> str:
    """Read only, shared: a calendar with a normal, a transparent, an all-day and a recurring event whose
    second occurrence falls after the clocks change (Europe/Berlin, 28 March 2027)."""
    url = radicale.new_calendar()
    radicale.add_event(
        url,
        vevent(
            "dentist",
            """DTSTART;TZID=Europe/Berlin:20270302T100000
            DTEND;TZID=Europe/Berlin:20270302T110000
            SUMMARY:Dentist""",
        ),
    )
    radicale.add_event(
        url,
        vevent(
            "reading",
            """DTSTART;TZID=Europe/Berlin:20270302T140000
            DTEND;TZID=Europe/Berlin:20270302T150000
            TRANSP:TRANSPARENT
            SUMMARY:Reading time""",
        ),
    )
    radicale.add_event(
        url,
        vevent(
            "holiday",
            """DTSTART;VALUE=DATE:20270303
            DTEND;VALUE=DATE:20270304
            SUMMARY:Holiday""",
        ),
    )
    radicale.add_event(
        url,
        vevent(
            "weekly",
            """DTSTART;TZID=Europe/Berlin:20270322T100000
            DTEND;TZID=Europe/Berlin:20270322T110000
            RRULE:FREQ=WEEKLY;COUNT=2
            SUMMARY:Weekly sync""",
        ),
    )
    return url


async def test_free_slots_leave_out_the_calendars_busy_times(
    client, pair, radicale: Radicale, busy_calendar: str
) -> None:
    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, busy_calendar)).status_code == 200
    day = {"from": "2027-03-01T23:00:00Z", "to": "2027-03-02T23:00:00Z"}
    response = await client.get(slots_url(team_id, ben.id), params=day, headers=ana.auth)
    found = local_starts(response)
    assert response.json()["calendar"] == {"status": "ok", "message": None}
    # The dentist (10:00-11:00) takes 09:30, 10:00 and 10:30; the transparent event nothing.
    assert "09:00" in found and "11:00" in found
    assert not {"09:30", "10:00", "10:30"} & set(found)
    assert {"13:30", "14:00", "14:30"} <= set(found)
    # The all-day event takes the whole of Wednesday.
    wednesday = {"from": "2027-03-02T23:00:00Z", "to": "2027-03-03T23:00:00Z"}
    response = await client.get(slots_url(team_id, ben.id), params=wednesday, headers=ana.auth)
    assert local_starts(response) == []
    # After the clocks change the weekly 10:00 is still 10:00 local (08:00 UTC, not 09:00).
    monday = {"from": "2027-03-28T22:00:00Z", "to": "2027-03-29T22:00:00Z"}
    response = await client.get(slots_url(team_id, ben.id), params=monday, headers=ana.auth)
    found = local_starts(response)
    assert "09:00" in found and "11:00" in found
    assert not {"09:30", "10:00", "10:30"} & set(found)


async def test_busy_times_from_listing_events_and_from_free_busy(
    radicale: Radicale, busy_calendar: str
) -> None:
    """Listing (the default) names the events; free-busy (the fallback) agrees on times,
    except for Radicale's own DST slip on the recurring event's second occurrence."""
    account = Account(busy_calendar, radicale.username, radicale.password)
    start, end = datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 31, tzinfo=UTC)
    listed = caldav_client.busy_times(account, start, end, BERLIN, own_uid_suffix="@x")
    by_summary = {(b.summary, b.start.astimezone(BERLIN).strftime("%m-%d %H:%M")) for b in listed}
    assert by_summary == {
        ("Dentist", "03-02 10:00"),
        ("Holiday", "03-03 00:00"),
        ("Weekly sync", "03-22 10:00"),
        ("Weekly sync", "03-29 10:00"),
    }
    free_busy = caldav_client.busy_times(
        account, start, end, BERLIN, own_uid_suffix="@x", prefer="free-busy"
    )
    assert all(b.summary is None for b in free_busy)
    times = {b.start.astimezone(BERLIN).strftime("%m-%d %H:%M") for b in free_busy}
    assert {"03-02 10:00", "03-22 10:00"} <= times
    assert "03-02 14:00" not in times  # transparent
    assert any(
        b.start.strftime("%m-%d") == "03-03" and b.end - b.start >= timedelta(hours=23)
        for b in free_busy
    )  # all-day (Radicale reads the date in UTC)


def test_both_shapes_of_a_free_busy_answer_are_read() -> None:
    bare = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VFREEBUSY\r\n"
        "DTSTAMP:20270101T000000Z\r\n"
        "FREEBUSY:20270302T090000Z/20270302T100000Z,20270302T120000Z/PT30M\r\n"
        "FREEBUSY;FBTYPE=FREE:20270302T130000Z/20270302T140000Z\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    wrapped = (
        '<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/c/</D:href>'
        "<D:propstat><D:prop><C:calendar-data>"
        f"{bare}</C:calendar-data></D:prop></D:propstat></D:response></D:multistatus>"
    )
    for answer in (bare, wrapped):
        calendars = caldav_client._calendars_in_answer(answer)
        periods = [
            (b.start.strftime("%H:%M"), b.end.strftime("%H:%M"))
            for calendar in calendars
            for b in caldav_client._freebusy_periods(calendar, BERLIN)
        ]
        assert periods == [("09:00", "10:00"), ("12:00", "12:30")]


async def test_free_slots_say_so_when_the_calendar_is_down(
    client, pair, radicale: Radicale, sessionmaker
) -> None:
    ana, ben, team_id = pair
    plain = await client.get(slots_url(team_id, ben.id), headers=ana.auth)
    assert plain.json()["calendar"] == {"status": "not_linked", "message": None}
    assert (await link(client, ben, radicale, radicale.new_calendar())).status_code == 200
    async with sessionmaker() as session, session.begin():
        dead = f"http://127.0.0.1:{free_port()}/ana/gone/"
        await session.execute(update(LinkedCalendar).values(url=dead))
    day = {"from": "2027-03-01T23:00:00Z", "to": "2027-03-02T23:00:00Z"}
    response = await client.get(slots_url(team_id, ben.id), params=day, headers=ana.auth)
    assert response.status_code == 200
    assert len(response.json()["data"]) == 15  # working hours, the calendar left aside
    calendar = response.json()["calendar"]
    assert calendar["status"] == "unavailable"
    assert calendar["message"].startswith("Their linked calendar could not be read")
    own = await client.get(slots_url(team_id, ben.id), params=day, headers=ben.auth)
    assert own.json()["calendar"]["message"].startswith("Your calendar could not be read")


# Confirm -----------------------------------------------------------------------------------


async def test_confirm_over_a_busy_time_is_refused_naming_it_unless_overridden(
    client, pair, radicale: Radicale, busy_calendar: str
) -> None:
    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, busy_calendar)).status_code == 200
    created = await create_meeting(client, ana, ben, team_id, "2027-03-02T09:30:00Z")
    assert created.status_code == 201, created.text
    confirm = f"/api/v3/meeting/{created.json()['id']}/confirm"
    refused = await client.post(confirm, headers=ben.auth)
    assert_envelope(refused, 409)
    message = refused.json()["message"]
    assert "Dentist" in message and "10:00" in message and "ignore_calendar_conflicts" in message
    done = await client.post(confirm, json={"ignore_calendar_conflicts": True}, headers=ben.auth)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "confirmed"


async def test_accepting_a_proposal_over_a_busy_time_is_refused_unless_overridden(
    client, pair, radicale: Radicale, busy_calendar: str
) -> None:
    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, busy_calendar)).status_code == 200
    created = await create_meeting(client, ana, ben, team_id, "2027-03-02T13:00:00Z")
    meeting = f"/api/v3/meeting/{created.json()['id']}"
    assert (await client.post(f"{meeting}/confirm", headers=ben.auth)).status_code == 200
    proposed = await client.post(
        f"{meeting}/propose", json={"date": "2027-03-02T09:30:00Z"}, headers=ana.auth
    )
    assert proposed.status_code == 200, proposed.text
    refused = await client.post(f"{meeting}/proposal/accept", headers=ben.auth)
    assert_envelope(refused, 409)
    assert "Dentist" in refused.json()["message"]
    done = await client.post(
        f"{meeting}/proposal/accept", json={"ignore_calendar_conflicts": True}, headers=ben.auth
    )
    assert done.status_code == 200, done.text
    assert done.json()["booking_date"] == "2027-03-02 09:30:00"


async def test_a_transparent_event_does_not_block_a_confirm(
    client, pair, radicale: Radicale, busy_calendar: str
) -> None:
    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, busy_calendar)).status_code == 200
    created = await create_meeting(client, ana, ben, team_id, "2027-03-02T13:00:00Z")
    response = await client.post(
        f"/api/v3/meeting/{created.json()['id']}/confirm", headers=ben.auth
    )
    assert response.status_code == 200, response.text


@pytest.mark.slow
async def test_a_hung_calendar_delays_a_confirm_by_at_most_a_few_seconds(
    client,
    pair,
    radicale: Radicale,
    sessionmaker,
    silent_port: int,  # noqa: F811
) -> None:
    import time

    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, radicale.new_calendar())).status_code == 200
    async with sessionmaker() as session, session.begin():
        hung = f"http://127.0.0.1:{silent_port}/ana/cal/"
        await session.execute(update(LinkedCalendar).values(url=hung))
    created = await create_meeting(client, ana, ben, team_id, "2027-03-02T09:30:00Z")
    started = time.monotonic()
    response = await client.post(
        f"/api/v3/meeting/{created.json()['id']}/confirm", headers=ben.auth
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 8


# Write-through -----------------------------------------------------------------------------


async def test_confirmed_meetings_are_written_moved_and_removed(
    app, client, pair, radicale: Radicale, sessionmaker
) -> None:
    ana, ben, team_id = pair
    calendar_url = radicale.new_calendar()
    assert (await link(client, ben, radicale, calendar_url)).status_code == 200
    worker = OutboxWorker(
        sessionmaker, Providers(email=DevMailbox(sessionmaker)), app.state.settings
    )
    created = await create_meeting(client, ana, ben, team_id, "2027-03-04T09:00:00Z")
    meeting_id = created.json()["id"]
    assert (await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=ben.auth)).is_success
    await worker.drain()
    uid = invite_uid(created.json()["booking_number"], app.state.settings.mail_domain)
    account = Account(calendar_url, radicale.username, radicale.password)
    object_url = caldav_client.object_url(account, uid)
    status, body = radicale.get(object_url)
    assert status == 200
    assert f"UID:{uid}" in body and "DTSTART:20270304T090000Z" in body
    assert "ORGANIZER" not in body and "METHOD" not in body
    # A reschedule: Ana proposes two hours later, Ben accepts; the copy moves.
    meeting = f"/api/v3/meeting/{meeting_id}"
    proposed = await client.post(
        f"{meeting}/propose", json={"date": "2027-03-04T11:00:00Z"}, headers=ana.auth
    )
    assert proposed.status_code == 200, proposed.text
    accepted = await client.post(f"{meeting}/proposal/accept", headers=ben.auth)
    assert accepted.status_code == 200, accepted.text
    await worker.drain()
    status, body = radicale.get(object_url)
    assert status == 200 and "DTSTART:20270304T110000Z" in body
    cancel = await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=ana.auth)
    assert cancel.status_code == 200, cancel.text
    await worker.drain()
    assert radicale.get(object_url)[0] == 404
    # The calendar rows are the worker's business, not the meeting's notifications list.
    listed = await client.get(f"/api/v3/meeting/{meeting_id}/notifications", headers=ana.auth)
    assert {item["channel"] for item in listed.json()["data"]} == {"email"}


async def test_a_write_to_a_calendar_that_is_down_is_retried(
    app, client, pair, radicale: Radicale, sessionmaker
) -> None:
    ana, ben, team_id = pair
    assert (await link(client, ben, radicale, radicale.new_calendar())).status_code == 200
    async with sessionmaker() as session, session.begin():
        dead = f"http://127.0.0.1:{free_port()}/ana/gone/"
        await session.execute(update(LinkedCalendar).values(url=dead))
    worker = OutboxWorker(
        sessionmaker, Providers(email=DevMailbox(sessionmaker)), app.state.settings
    )
    created = await create_meeting(client, ana, ben, team_id, "2027-03-04T09:00:00Z")
    meeting_id = created.json()["id"]
    assert (await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=ben.auth)).is_success
    await worker.drain()
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text("SELECT status, attempts, last_error FROM notifications WHERE channel = :c"),
                {"c": "caldav"},
            )
        ).one()
    assert row[0] == "pending" and row[1] == 1 and "could not be reached" in row[2]


def test_the_password_opens_only_with_the_same_secret_key() -> None:
    key, other = "k" * 40, "o" * 40
    sealed = encrypt_password(key, "radicale-pass-1")
    assert "radicale-pass-1" not in sealed
    assert decrypt_password(key, sealed) == "radicale-pass-1"
    with pytest.raises(CannotDecrypt):
        decrypt_password(other, sealed)
