"""`reminder_minutes` on GET/PATCH /api/v3/me (CONTRACT §1.4)."""

from __future__ import annotations

import pytest

from tests.conftest import World


async def test_the_default_is_one_hour(client, world: World) -> None:
    person = await world.person()
    me = await client.get("/api/v3/me", headers=person.auth)
    assert me.json()["reminder_minutes"] == [60]


async def test_patch_sets_sorts_and_collapses_repeats(client, world: World) -> None:
    person = await world.person()
    response = await client.patch(
        "/api/v3/me", json={"reminder_minutes": [1440, 15, 15, 10080]}, headers=person.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["reminder_minutes"] == [15, 1440, 10080]
    me = await client.get("/api/v3/me", headers=person.auth)
    assert me.json()["reminder_minutes"] == [15, 1440, 10080]


async def test_an_empty_list_means_no_reminders_and_other_fields_keep_it(
    client, world: World
) -> None:
    person = await world.person()
    await client.patch("/api/v3/me", json={"reminder_minutes": []}, headers=person.auth)
    renamed = await client.patch("/api/v3/me", json={"name": "Renamed"}, headers=person.auth)
    assert renamed.json()["reminder_minutes"] == []


@pytest.mark.parametrize(
    "value",
    [
        [4],
        [10081],
        [0],
        [-5],
        [5, 10, 15, 20],
        [30.5],
        ["60"],
        [True],
        60,
        "60",
        None,
        {"minutes": 60},
    ],
)
async def test_bad_values_are_refused_naming_the_field(client, world: World, value) -> None:
    person = await world.person()
    response = await client.patch(
        "/api/v3/me", json={"reminder_minutes": value}, headers=person.auth
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == 400
    assert "reminder_minutes" in body["message"]
    assert "5 to 10080" in body["message"]
    me = await client.get("/api/v3/me", headers=person.auth)
    assert me.json()["reminder_minutes"] == [60]
