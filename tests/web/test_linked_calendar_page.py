"""/settings: the linked CalDAV calendar section (link, status, unlink), against Radicale;
and the request form's note when a teammate's calendar cannot be read."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from meetbook.models import LinkedCalendar
from tests.availability.conftest import Radicale, free_port, vevent
from tests.availability.conftest import radicale as radicale

from .conftest import World, sign_in


@pytest.fixture(autouse=True)
def private_targets(app: FastAPI) -> Iterator[None]:
    """Radicale is on loopback: allow it (MEETBOOK_ALLOW_PRIVATE_TARGETS=1) here only."""
    before = app.state.settings
    app.state.settings = before.model_copy(update={"allow_private_targets": True})
    yield
    app.state.settings = before


async def test_link_shows_the_status_and_unlink_removes_it(
    client: httpx.AsyncClient, world: World, radicale: Radicale
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    assert "No calendar is linked." in (await client.get("/settings")).text
    url = radicale.new_calendar()
    form = {
        "csrf_token": csrf,
        "url": url,
        "username": radicale.username,
        "password": radicale.password,
    }
    response = await client.post("/settings/calendar", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/settings#linked-calendar"
    page = html.unescape((await client.get("/settings")).text)
    assert "Linked your calendar." in page
    assert url in page and "Read without problems" in page
    assert radicale.password not in page

    response = await client.post("/settings/calendar/unlink", data={"csrf_token": csrf})
    assert response.status_code == 303
    page = (await client.get("/settings")).text
    assert "Unlinked your calendar." in page and "No calendar is linked." in page


async def test_a_calendar_that_cannot_be_read_is_not_linked_and_says_why(
    client: httpx.AsyncClient, world: World, radicale: Radicale
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    form = {
        "csrf_token": csrf,
        "url": radicale.new_calendar(),
        "username": radicale.username,
        "password": "wrong-password",
    }
    await client.post("/settings/calendar", data=form)
    page = html.unescape((await client.get("/settings")).text)
    assert "The calendar could not be read: the server refused the user name" in page
    assert "No calendar is linked." in page


async def test_the_link_form_needs_the_csrf_token(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    await sign_in(client, ana)
    form = {
        "csrf_token": "wrong",
        "url": "https://dav.example.com/",
        "username": "",
        "password": "",
    }
    assert (await client.post("/settings/calendar", data=form)).status_code == 403


async def test_the_request_form_says_when_their_calendar_cannot_be_read(
    client: httpx.AsyncClient, world: World, sessionmaker
) -> None:
    ana, ben = await world.person("Ana"), await world.person("Ben")
    team_id = await world.team(ana, ben)
    dead = f"http://127.0.0.1:{free_port()}/x/"
    async with sessionmaker() as session, session.begin():
        session.add(LinkedCalendar(user_id=ben.id, url=dead, username="x", password_encrypted="x"))
    await sign_in(client, ana)
    query = {"team": team_id, "member": ben.id, "day": "2030-03-05"}
    page = html.unescape((await client.get("/meetings/new", params=query)).text)
    assert "Their linked calendar could not be read" in page
    assert "These times do not take it into account." in page


async def test_the_page_confirm_checks_the_linked_calendar_and_offers_to_go_ahead(
    client: httpx.AsyncClient, world: World, radicale: Radicale
) -> None:
    ana = await world.person("Ana Lima")
    ben = await world.person("Ben Okafor", timezone="Europe/Berlin")
    team_id = await world.team(ana, ben)
    url = radicale.new_calendar()
    dentist = """DTSTART;TZID=Europe/Berlin:20270302T100000
        DTEND;TZID=Europe/Berlin:20270302T110000
        SUMMARY:Dentist"""
    radicale.add_event(url, vevent("page-dentist", dentist))
    csrf = await sign_in(client, ben)
    form = {
        "csrf_token": csrf,
        "url": url,
        "username": radicale.username,
        "password": radicale.password,
    }
    assert (await client.post("/settings/calendar", data=form)).status_code == 303
    start = datetime(2027, 3, 2, 9, 30, tzinfo=UTC)  # 10:30 in Berlin: over the dentist
    meeting_id = await world.meeting(ana, ben, team_id, start=start)

    refused = await client.post(
        f"/meetings/{meeting_id}/confirm", data={"csrf_token": csrf, "back": "/meetings"}
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/meetings/{meeting_id}?calendar_conflict=1"
    assert (await world.stored(meeting_id)).status == "pending"
    page = html.unescape((await client.get(refused.headers["location"])).text)
    assert "“Dentist”" in page and "in your linked calendar" in page
    assert 'name="ignore_calendar_conflicts" value="1"' in page and "Confirm anyway" in page

    done = await client.post(
        f"/meetings/{meeting_id}/confirm",
        data={
            "csrf_token": csrf,
            "back": f"/meetings/{meeting_id}",
            "ignore_calendar_conflicts": "1",
        },
    )
    assert done.status_code == 303
    assert (await world.stored(meeting_id)).status == "confirmed"
