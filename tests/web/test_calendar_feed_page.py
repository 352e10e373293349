"""/settings: the calendar feed section (create, shown once as a webcal:// link, revoke)."""

from __future__ import annotations

import html
import re

import httpx
from icalendar import Calendar

from .conftest import World, sign_in

_WEBCAL = re.compile(r'href="(webcal://testserver/calendar/[^"]+\.ics)"')


async def test_create_shows_the_webcal_link_once_and_revoke_stops_it(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    page = await client.get("/settings")
    assert "You have no feed address." in page.text
    assert 'action="/settings/calendar-feed/revoke"' not in page.text

    response = await client.post("/settings/calendar-feed", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/settings#calendar-feed"
    page = await client.get("/settings")
    found = _WEBCAL.search(page.text)
    assert found, page.text
    webcal = html.unescape(found.group(1))
    path = webcal.removeprefix("webcal://testserver")
    assert "A feed address is active" in page.text
    # The link is in the one-time flash only: the next view no longer has it.
    assert not _WEBCAL.search((await client.get("/settings")).text)

    feed = await client.get(path, headers={"Accept": "text/calendar"})
    assert feed.status_code == 200
    assert Calendar.from_ical(feed.content).get("PRODID")

    response = await client.post("/settings/calendar-feed/revoke", data={"csrf_token": csrf})
    assert response.status_code == 303
    page = await client.get("/settings")
    assert "Revoked. Your calendar feed address no longer works." in page.text
    assert (await client.get(path)).status_code == 404


async def test_the_feed_buttons_need_the_csrf_token(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    await sign_in(client, ana)
    response = await client.post("/settings/calendar-feed", data={"csrf_token": "wrong"})
    assert response.status_code == 403
    assert "You have no feed address." in (await client.get("/settings")).text
