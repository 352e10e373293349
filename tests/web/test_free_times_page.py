"""The request form offers a teammate's free times for a chosen day (a GET form)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from .conftest import World, sign_in


def _next_weekday(zone: ZoneInfo) -> str:
    day = datetime.now(UTC).astimezone(zone).date() + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


async def test_free_times_fill_in_the_form_and_warn_outside_hours(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "UTC")
    ben = await world.person("Ben Ode", "America/New_York")
    team_id = await world.team(ana, ben)
    csrf = await sign_in(client, ana)
    day = _next_weekday(ZoneInfo("America/New_York"))
    page = await client.get("/meetings/new", params={"team": team_id, "member": ben.id, "day": day})
    assert page.status_code == 200
    assert 'id="free-times-form"' in page.text and 'method="get"' in page.text
    links = [html.unescape(h) for h in re.findall(r'<a href="(/meetings/new\?[^"]+)">', page.text)]
    # 09:00 to 16:00 in New York, every half hour.
    assert len(links) == 15
    assert ">09:00\u201310:00 E" in page.text  # EST or EDT, whichever that day has
    filled = await client.get(links[0])
    assert f'name="date" value="{day}T09:00"' in filled.text
    assert f'<option value="{ben.id}" data-name' in filled.text

    # A time outside their hours is accepted, and the confirmation says so.
    response = await client.post(
        "/meetings/new",
        data={"csrf_token": csrf, "team_id": team_id, "user_id": ben.id, "date": f"{day}T20:00"},
    )
    assert response.status_code == 303
    flash = (await client.get("/meetings?tab=sent")).text
    assert "That is outside their working hours." in flash


async def test_no_free_times_on_a_weekend_and_bad_days_are_ignored(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "UTC")
    ben = await world.person("Ben Ode", "UTC")
    team_id = await world.team(ana, ben)
    await sign_in(client, ana)
    day = datetime.now(UTC).date() + timedelta(days=2)
    while day.weekday() != 5:
        day += timedelta(days=1)
    page = await client.get(
        "/meetings/new", params={"team": team_id, "member": ben.id, "day": day.isoformat()}
    )
    assert "No free times that day" in page.text
    for bad in ("9999-12-31", "not-a-day", "2027-02-30", "x" * 300):
        page = await client.get(
            "/meetings/new", params={"team": team_id, "member": ben.id, "day": bad}
        )
        assert page.status_code == 200
