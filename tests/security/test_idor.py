"""Two teams: nobody in team A reaches anything of team B by guessing ids.

Where existence must not leak (a meeting, a team's members, a device) the answer is 404
with the same message as for an id that does not exist at all, never 403.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Person, World, create_meeting, future
from tests.test_errors import assert_envelope


@dataclass(frozen=True)
class Teams:
    a1: Person
    a2: Person
    b1: Person
    b2: Person
    team_a: int
    team_b: int
    meeting_b: int  # b1 → b2, pending
    confirmed_b: int  # b2 → b1, confirmed
    device_b: int  # b1's push device


@pytest.fixture
async def teams(client: httpx.AsyncClient, world: World, clock) -> Teams:
    a1, a2 = await world.person("A One"), await world.person("A Two")
    b1, b2 = await world.person("B One"), await world.person("B Two")
    team_a = await world.team(a1, a2, name="A")
    team_b = await world.team(b1, b2, name="B")
    await create_meeting(client, a1, a2, team_a, future(clock, days=3))  # A has data too
    meeting_b = (await create_meeting(client, b1, b2, team_b, future(clock))).json()["id"]
    confirmed_b = (await create_meeting(client, b2, b1, team_b, future(clock, days=9))).json()["id"]
    confirm = await client.post(f"/api/v3/meeting/{confirmed_b}/confirm", headers=b1.auth)
    assert confirm.status_code == 200
    device = await client.post(
        "/api/v3/devices", json={"platform": "fcm", "token": "b1-phone"}, headers=b1.auth
    )
    assert device.status_code == 201
    return Teams(
        a1, a2, b1, b2, team_a, team_b, meeting_b, confirmed_b, device_b=device.json()["id"]
    )


MEETING_ROUTES = [
    ("GET", "/api/v3/meeting/{id}"),
    ("GET", "/api/v3/meeting/{id}/notifications"),
    ("POST", "/api/v3/meeting/{id}/confirm"),
    ("POST", "/api/v3/meeting/{id}/reject"),
    ("POST", "/api/v3/meeting/{id}/cancel"),
]


def _message(response: httpx.Response) -> str:
    return re.sub(r"\d+", "N", response.json()["message"])


@pytest.mark.parametrize(("method", "path"), MEETING_ROUTES)
@pytest.mark.parametrize("target", ["meeting_b", "confirmed_b"])
@pytest.mark.parametrize("who", ["a1", "a2"])
async def test_another_teams_meeting_is_404_like_a_missing_one(
    client, teams: Teams, method, path, target, who
) -> None:
    outsider: Person = getattr(teams, who)
    meeting_id = getattr(teams, target)
    theirs = await client.request(method, path.format(id=meeting_id), headers=outsider.auth)
    missing = await client.request(
        method, path.format(id=meeting_id + 10_000), headers=outsider.auth
    )
    assert_envelope(theirs, 404)
    assert_envelope(missing, 404)
    assert _message(theirs) == _message(missing)
    assert str(teams.b1.id) not in theirs.text.replace(str(meeting_id), "")


async def test_nothing_changed_after_the_attempts(client, teams: Teams) -> None:
    for method, path in MEETING_ROUTES:
        await client.request(method, path.format(id=teams.meeting_b), headers=teams.a1.auth)
    mine = await client.get(f"/api/v3/meeting/{teams.meeting_b}", headers=teams.b2.auth)
    assert mine.json()["status"] == "pending"
    confirmed = await client.get(f"/api/v3/meeting/{teams.confirmed_b}", headers=teams.b2.auth)
    assert confirmed.json()["status"] == "confirmed"


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"team_id": "B"},
        {"role": "requester"},
        {"role": "recipient"},
        {"status": "pending,confirmed,rejected,cancelled,expired,completed"},
        {"order": "desc", "limit": "100"},
    ],
)
async def test_lists_never_show_another_teams_meetings(client, teams: Teams, query) -> None:
    params = {k: (str(teams.team_b) if v == "B" else v) for k, v in query.items()}
    ids_b = {teams.meeting_b, teams.confirmed_b}
    for path in ("/api/v3/meeting/list", "/api/v3/meeting/pending"):
        if path.endswith("pending") and set(params) - {"team_id", "limit"}:
            continue
        response = await client.get(path, params=params, headers=teams.a1.auth)
        assert response.status_code == 200, response.text
        seen = {item["id"] for item in response.json()["data"]}
        assert not seen & ids_b
        assert all(item["team_id"] == teams.team_a for item in response.json()["data"])


async def test_another_teams_members_are_404(client, teams: Teams) -> None:
    theirs = await client.get(f"/api/v3/teams/{teams.team_b}/members", headers=teams.a1.auth)
    missing = await client.get(
        f"/api/v3/teams/{teams.team_b + 1000}/members", headers=teams.a1.auth
    )
    assert_envelope(theirs, 404)
    assert _message(theirs) == _message(missing)
    assert "B One" not in theirs.text
    listed = await client.get("/api/v3/teams", headers=teams.a1.auth)
    assert [team["id"] for team in listed.json()["data"]] == [teams.team_a]


async def test_another_users_device_is_404_and_stays(client, teams: Teams) -> None:
    theirs = await client.delete(f"/api/v3/devices/{teams.device_b}", headers=teams.a1.auth)
    missing = await client.delete(f"/api/v3/devices/{teams.device_b + 1000}", headers=teams.a1.auth)
    assert_envelope(theirs, 404)
    assert _message(theirs) == _message(missing)
    # Still there: its owner can remove it.
    owner = await client.delete(f"/api/v3/devices/{teams.device_b}", headers=teams.b1.auth)
    assert owner.status_code == 204


@pytest.mark.parametrize("recipient", ["b1", "a2"])
async def test_creating_in_another_team_is_refused(client, teams: Teams, clock, recipient) -> None:
    # CONTRACT §1.1: a caller who is not a member of the team gets 403.
    response = await create_meeting(
        client, teams.a1, getattr(teams, recipient), teams.team_b, future(clock, days=20)
    )
    assert_envelope(response, 403)
    listed = await client.get("/api/v3/meeting/list", headers=teams.b1.auth)
    assert {item["team_id"] for item in listed.json()["data"]} == {teams.team_b}
    assert len(listed.json()["data"]) == 2


async def test_inviting_an_outsider_into_my_team_is_refused(client, teams: Teams, clock) -> None:
    response = await create_meeting(
        client, teams.a1, teams.b1, teams.team_a, future(clock, days=21)
    )
    assert_envelope(response, 403)
