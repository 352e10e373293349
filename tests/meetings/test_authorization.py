"""Who may do what: requester, recipient, team member, outsider, anonymous × every route."""

from __future__ import annotations

import pytest

from tests.conftest import World, create_meeting, future

ROUTES = [
    ("GET", "/api/v3/meeting/{id}"),
    ("POST", "/api/v3/meeting/{id}/confirm"),
    ("POST", "/api/v3/meeting/{id}/reject"),
    ("POST", "/api/v3/meeting/{id}/cancel"),
    ("GET", "/api/v3/meeting/pending"),
    ("GET", "/api/v3/meeting/list"),
    ("POST", "/api/v3/meeting/create"),
]

# Expected status for each (route, role). A fresh pending meeting per case.
EXPECTED = {
    "requester": {
        "GET /{id}": 200,
        "confirm": 403,
        "reject": 403,
        "cancel": 200,
        "pending": 200,
        "list": 200,
        "create": 201,
    },
    "recipient": {
        "GET /{id}": 200,
        "confirm": 200,
        "reject": 200,
        "cancel": 200,
        "pending": 200,
        "list": 200,
        "create": 201,
    },
    "member": {
        "GET /{id}": 404,
        "confirm": 404,
        "reject": 404,
        "cancel": 404,
        "pending": 200,
        "list": 200,
        "create": 201,
    },
    "outsider": {
        "GET /{id}": 404,
        "confirm": 404,
        "reject": 404,
        "cancel": 404,
        "pending": 200,
        "list": 200,
        "create": 403,
    },
    "anonymous": {
        "GET /{id}": 401,
        "confirm": 401,
        "reject": 401,
        "cancel": 401,
        "pending": 401,
        "list": 401,
        "create": 401,
    },
}


def _key(path: str) -> str:
    tail = path.rsplit("/", 1)[-1]
    return "GET /{id}" if tail == "{id}" else tail


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_authorization_matrix(client, world: World, clock, role, method, path) -> None:
    requester = await world.person("Req")
    recipient = await world.person("Rec")
    member = await world.person("Mem")
    outsider = await world.person("Out")
    team_id = await world.team(requester, recipient, member)
    await world.team(outsider)
    created = await create_meeting(client, requester, recipient, team_id, future(clock, 3, 10))
    meeting_id = created.json()["id"]
    actor = {
        "requester": requester,
        "recipient": recipient,
        "member": member,
        "outsider": outsider,
        "anonymous": None,
    }[role]
    headers = actor.auth if actor else {}
    kwargs: dict = {"headers": headers}
    if path.endswith("create"):
        target = member if role != "member" else requester
        if role == "recipient":
            target = member
        kwargs["json"] = {"user_id": target.id, "team_id": team_id, "date": future(clock, 4, 11)}
    response = await client.request(method, path.replace("{id}", str(meeting_id)), **kwargs)
    assert response.status_code == EXPECTED[role][_key(path)], response.text
    if response.status_code >= 400:
        assert set(response.json()) >= {"error", "message"}
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if role in ("member", "outsider") and path.endswith("list"):
        assert response.json()["data"] == []  # nothing of other people's meetings
