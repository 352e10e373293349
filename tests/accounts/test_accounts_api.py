"""Tokens, me, teams, members."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from meetbook.auth.tokens import hash_token
from meetbook.models import ApiToken
from tests.conftest import World


async def test_token_from_password_and_revoke(client, world: World, sessionmaker) -> None:
    person = await world.person("Pat", password="correct horse")
    response = await client.post(
        "/api/v3/auth/token",
        json={"email": person.email.upper(), "password": "correct horse", "name": "laptop"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "laptop" and body["token"].startswith("mb_")
    auth = {"Authorization": f"Bearer {body['token']}"}
    assert (await client.get("/api/v3/me", headers=auth)).status_code == 200
    async with sessionmaker() as session:
        stored = await session.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
    assert stored.token_hash == hash_token(body["token"]) and body["token"] not in stored.token_hash
    assert (await client.delete("/api/v3/auth/token", headers=auth)).status_code == 204
    assert (await client.get("/api/v3/me", headers=auth)).status_code == 401


async def test_wrong_credentials_are_401(client, world: World) -> None:
    person = await world.person(password="right-stapler-meadow")
    for body in (
        {"email": person.email, "password": "wrong"},
        {"email": "nobody@x.io", "password": "right-stapler-meadow"},
    ):
        response = await client.post("/api/v3/auth/token", json=body)
        assert response.status_code == 401
        assert response.json()["error"] == 401


async def test_token_request_validation(client) -> None:
    response = await client.post("/api/v3/auth/token", json={"email": 5, "password": "x"})
    assert response.status_code == 400
    assert "email" in response.json()["message"]


async def test_me_and_patch(client, world: World) -> None:
    person = await world.person("Old Name")
    response = await client.patch(
        "/api/v3/me", json={"name": "New Name", "timezone": "Asia/Kolkata"}, headers=person.auth
    )
    assert response.status_code == 200
    assert response.json() == {
        "id": person.id,
        "name": "New Name",
        "email": person.email,
        "timezone": "Asia/Kolkata",
        "locale": "en",
        "reminder_minutes": [60],
    }
    bad = await client.patch("/api/v3/me", json={"timezone": "Mars/Olympus"}, headers=person.auth)
    assert bad.status_code == 400 and "timezone" in bad.json()["message"]
    empty = await client.patch("/api/v3/me", json={"name": ""}, headers=person.auth)
    assert empty.status_code == 400


async def test_teams_and_members(client, world: World) -> None:
    a = await world.person("Ann", timezone="Europe/Paris")
    b = await world.person("Bob", timezone=None)
    outsider = await world.person("Out")
    team_id = await world.team(a, b, name="Design")
    teams = (await client.get("/api/v3/teams", headers=a.auth)).json()["data"]
    assert teams == [{"id": team_id, "name": "Design", "role": "member"}]
    members = (await client.get(f"/api/v3/teams/{team_id}/members", headers=a.auth)).json()["data"]
    assert [(m["id"], m["name"], m["timezone"]) for m in members] == [
        (a.id, "Ann", "Europe/Paris"),
        (b.id, "Bob", None),
    ]
    hidden = await client.get(f"/api/v3/teams/{team_id}/members", headers=outsider.auth)
    assert hidden.status_code == 404
    assert (await client.get("/api/v3/teams/424242/members", headers=a.auth)).status_code == 404


async def test_token_use_is_recorded(client, world: World, sessionmaker) -> None:
    person = await world.person()
    assert (await client.get("/api/v3/me", headers=person.auth)).status_code == 200
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_token(person.token))
        )
    assert stored.last_used_at is not None


async def test_patch_me_timezone_null_clears_it(client, world: World) -> None:
    person = await world.person("Zoned", timezone="Europe/Paris")
    cleared = await client.patch("/api/v3/me", json={"timezone": None}, headers=person.auth)
    assert cleared.status_code == 200 and cleared.json()["timezone"] is None
    assert (await client.get("/api/v3/me", headers=person.auth)).json()["timezone"] is None
    # Leaving the field out keeps it.
    await client.patch("/api/v3/me", json={"timezone": "Asia/Tokyo"}, headers=person.auth)
    kept = await client.patch("/api/v3/me", json={"name": "Renamed"}, headers=person.auth)
    assert kept.json()["timezone"] == "Asia/Tokyo"


@pytest.mark.parametrize("name", ["Factory", "localtime", "posixrules", "Etc/Unknown"])
async def test_names_that_are_no_place_are_refused_as_zones(client, world: World, name) -> None:
    person = await world.person()
    response = await client.patch("/api/v3/me", json={"timezone": name}, headers=person.auth)
    assert response.status_code == 400 and "timezone" in response.json()["message"]
