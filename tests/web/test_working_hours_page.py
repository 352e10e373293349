"""/settings: editing working hours without JavaScript."""

from __future__ import annotations

import httpx

from meetbook.models import User

from .conftest import World, sign_in


async def test_default_hours_are_shown_and_can_be_changed(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    page = await client.get("/settings")
    assert 'name="hours_mon" value="09:00-17:00"' in page.text
    assert 'name="hours_sat" value=""' in page.text
    form = {f"hours_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    form |= {
        "csrf_token": csrf,
        "hours_mon": "13:00 - 17:00, 08:00-12:00",
        "hours_sat": "10:00-14:00",
    }
    response = await client.post("/settings/working-hours", data=form)
    assert response.status_code == 303
    page = await client.get("/settings")
    assert "Saved your working hours." in page.text
    assert 'name="hours_mon" value="08:00-12:00, 13:00-17:00"' in page.text
    assert 'name="hours_tue" value=""' in page.text
    assert 'name="hours_sat" value="10:00-14:00"' in page.text
    async with world.app.state.sessionmaker() as session:
        user = await session.get(User, ana.id)
        assert user is not None
        assert user.working_hours["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]


async def test_a_bad_day_is_shown_next_to_it_and_nothing_is_saved(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima")
    csrf = await sign_in(client, ana)
    form = {f"hours_{day}": "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")}
    form |= {"csrf_token": csrf, "hours_wed": "17:00-09:00", "hours_sun": "9-5"}
    response = await client.post("/settings/working-hours", data=form)
    assert response.status_code == 400
    assert (
        'id="hours_wed-error">Wednesday: interval 17:00-09:00 must start before it ends.'
        in response.text
    )
    assert 'id="hours_sun-error">Sunday:' in response.text
    # What was typed stays in the form, and the profile form keeps its values.
    assert 'name="hours_wed" value="17:00-09:00"' in response.text
    assert 'value="Ana Lima"' in response.text
    page = await client.get("/settings")
    assert 'name="hours_wed" value="09:00-17:00"' in page.text
