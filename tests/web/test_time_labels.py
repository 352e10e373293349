"""Times on the page: a meeting across a clock change, and the request form's offset."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest_asyncio

from .conftest import Person, World, csrf_of, sign_in

NEXT_YEAR = datetime.now(UTC).year + 1


@pytest_asyncio.fixture
async def ana_and_ben(client: httpx.AsyncClient, world: World) -> tuple[Person, Person, int]:
    """Ana (Lisbon) and Ben (New York) in one team; the client is signed in as Ana."""
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    return ana, ben, team


async def test_a_meeting_across_spring_forward_names_each_end(
    client: httpx.AsyncClient, world: World, ana_and_ben: tuple[Person, Person, int]
) -> None:
    ana, ben, team = ana_and_ben
    march = datetime(NEXT_YEAR, 3, 8, 6, 30, tzinfo=UTC)
    # The second Sunday of March, 01:30 EST (06:30 UTC); an hour later New York's clocks
    # read 03:30 EDT.
    start = march + timedelta(days=(6 - march.weekday()) % 7)
    meeting_id = await world.meeting(ana, ben, team, start=start)
    client.cookies.clear()  # Ben reads it, in New York's time
    await sign_in(client, ben)

    page = await client.get(f"/meetings/{meeting_id}")

    assert page.status_code == 200
    assert "01:30 EST\u201303:30 EDT" in page.text
    assert "01:30\u201303:30 EDT" not in page.text
    listed = await client.get("/meetings?tab=pending-meeting")
    assert "01:30 EST\u201303:30 EDT" in listed.text


def _option_label(html: str, member_id: int) -> str:
    found = re.search(rf'<option value="{member_id}"[^>]*>([^<]+)</option>', html)
    assert found, html
    return found.group(1)


async def test_the_form_shows_the_offset_on_the_chosen_date(
    client: httpx.AsyncClient, ana_and_ben: tuple[Person, Person, int]
) -> None:
    _, ben, team = ana_and_ben
    url = f"/meetings/new?team={team}&member={ben.id}"

    winter = await client.get(f"{url}&date={NEXT_YEAR}-01-15T10:00")
    summer = await client.get(f"{url}&date={NEXT_YEAR}-07-15T10:00")
    undated = await client.get(url)

    winter_day = datetime(NEXT_YEAR, 1, 15).strftime("%a")
    assert _option_label(winter.text, ben.id) == (
        f"Ben Carter \u2014 America/New_York (UTC\u221205:00 on {winter_day} 15 Jan {NEXT_YEAR})"
    )
    assert "UTC\u221204:00 on" in _option_label(summer.text, ben.id)
    assert "America/New_York (UTC\u221204:00 on" in summer.text  # the hint under the date
    assert f'value="{NEXT_YEAR}-07-15T10:00"' in summer.text
    assert re.search(r"America/New_York \(UTC\u22120[45]:00 now\)", undated.text)


async def test_the_re_rendered_form_shows_the_offset_on_the_date_given(
    client: httpx.AsyncClient, ana_and_ben: tuple[Person, Person, int]
) -> None:
    _, ben, team = ana_and_ben
    csrf = csrf_of((await client.get(f"/meetings/new?team={team}")).text)
    form = {"csrf_token": csrf, "team_id": str(team), "user_id": str(ben.id)}
    response = await client.post(
        "/meetings/new", data={**form, "date": f"{NEXT_YEAR}-07-15T10:00", "link": "not a link"}
    )
    assert response.status_code == 400
    assert "America/New_York (UTC\u221204:00 on" in _option_label(response.text, ben.id)
    assert "Ben Carter\u2019s clock shows it: America/New_York (UTC\u221204:00 on" in response.text
