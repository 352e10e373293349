"""Who may use each people-and-teams route (CONTRACT §1.8), as one matrix.

Callers: an instance admin outside the team, the team's admin, a member, a member of
another team, and an anonymous caller; each route × each caller has one expected status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from meetbook.auth.permissions import RULES
from tests.accounts.people_helpers import make_instance_admin, set_role
from tests.conftest import Person, World

CALLERS = ("instance_admin", "team_admin", "member", "outsider", "anonymous")


@dataclass
class Setup:
    team_id: int
    people: dict[str, Person]
    invite_id: int
    targets: list[Person]


@pytest.fixture
async def setup(client: httpx.AsyncClient, world: World, sessionmaker) -> Setup:
    instance_admin = await world.person("Ida Instance")
    await make_instance_admin(sessionmaker, instance_admin.id)
    admin, member = await world.person("Ada Admin"), await world.person("Mo Member")
    targets = [await world.person(f"Target {n}") for n in range(3)]
    team_id = await world.team(admin, member, *targets)
    await set_role(sessionmaker, team_id, admin.id, "admin")
    outsider = await world.person("Oz Outsider")
    await world.team(outsider, name="Other")
    invite = await client.post(
        f"/api/v3/teams/{team_id}/invites", json={"email": "new@example.com"}, headers=admin.auth
    )
    assert invite.status_code == 201, invite.text
    people = {
        "instance_admin": instance_admin,
        "team_admin": admin,
        "member": member,
        "outsider": outsider,
    }
    return Setup(team_id, people, invite.json()["id"], targets)


Call = Callable[[httpx.AsyncClient, Setup, dict[str, str]], Awaitable[httpx.Response]]


def _route(method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    async def call(client: httpx.AsyncClient, s: Setup, auth: dict[str, str]) -> httpx.Response:
        url = path.format(team=s.team_id, invite=s.invite_id, target=s.targets[0].id)
        return await client.request(method, url, json=body, headers=auth)

    return call


# route → expected status per caller (instance admin, team admin, member, outsider, anon)
MATRIX: dict[str, tuple[Call, tuple[int, int, int, int, int]]] = {
    "POST /teams": (_route("POST", "/api/v3/teams", {"name": "New"}), (201, 403, 403, 403, 401)),
    "PATCH /teams/{id}": (
        _route("PATCH", "/api/v3/teams/{team}", {"name": "Renamed"}),
        (404, 200, 403, 404, 401),
    ),
    "PATCH /teams/{id}/members/{uid}": (
        _route("PATCH", "/api/v3/teams/{team}/members/{target}", {"role": "admin"}),
        (404, 200, 403, 404, 401),
    ),
    "DELETE /teams/{id}/members/{uid}": (
        _route("DELETE", "/api/v3/teams/{team}/members/{target}"),
        (404, 204, 403, 404, 401),
    ),
    "POST /teams/{id}/invites": (
        _route("POST", "/api/v3/teams/{team}/invites", {"email": "x@example.com"}),
        (404, 201, 403, 404, 401),
    ),
    "GET /teams/{id}/invites": (
        _route("GET", "/api/v3/teams/{team}/invites"),
        (404, 200, 403, 404, 401),
    ),
    "DELETE /teams/{id}/invites/{iid}": (
        _route("DELETE", "/api/v3/teams/{team}/invites/{invite}"),
        (404, 204, 403, 404, 401),
    ),
    "GET /teams/{id}/members": (
        _route("GET", "/api/v3/teams/{team}/members"),
        (404, 200, 200, 404, 401),
    ),
}


@pytest.mark.parametrize("route", list(MATRIX))
async def test_route_authorization_matrix(client, setup: Setup, route: str) -> None:
    call, expected = MATRIX[route]
    seen = {}
    for caller in CALLERS:
        auth = setup.people[caller].auth if caller in setup.people else {}
        response = await call(client, setup, auth)
        seen[caller] = response.status_code
        if response.status_code >= 400:
            assert response.json()["error"] == response.status_code
    assert seen == dict(zip(CALLERS, expected, strict=True)), route


async def test_a_member_may_remove_themself(client, setup: Setup) -> None:
    member = setup.people["member"]
    response = await client.delete(
        f"/api/v3/teams/{setup.team_id}/members/{member.id}", headers=member.auth
    )
    assert response.status_code == 204
    listed = await client.get(f"/api/v3/teams/{setup.team_id}/members", headers=member.auth)
    assert listed.status_code == 404


def test_every_permission_has_a_rule_that_names_who_holds_it() -> None:
    for name, rule in RULES.items():
        assert rule.instance_admin or rule.team_admin or rule.team_member, name
