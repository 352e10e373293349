"""How many SQL statements each read route sends (issue #15): the participants' names come
with the meetings, a list reads both roles in one statement, and free slots read the
member, their team and both memberships at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from meetbook.auth.tokencache import TokenCache
from tests.auth.test_token_cache import statements
from tests.conftest import MovableClock, Person, World, create_meeting

_TRANSACTION = {"BEGIN", "COMMIT", "ROLLBACK"}


def _queries(sent: list[str]) -> list[str]:
    """The statements besides transaction control (SQLite sends its BEGIN as SQL)."""
    return [s for s in sent if s.split(None, 1)[0].upper() not in _TRANSACTION]


@pytest.fixture
async def meetings(client: Any, world: World, clock: MovableClock) -> dict[str, Any]:
    ann, bob = await world.person("Ann"), await world.person("Bob")
    team = await world.team(ann, bob)
    ids = []
    for day in range(4):
        date = (clock.now + timedelta(days=day + 1)).strftime("%Y-%m-%dT15:00:00Z")
        created = await create_meeting(client, ann, bob, team, date)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    confirmed = await client.post(f"/api/v3/meeting/{ids[0]}/confirm", headers=bob.auth)
    assert confirmed.status_code == 200, confirmed.text
    return {"ann": ann, "bob": bob, "team": team, "ids": ids}


def _routes(m: dict[str, Any]) -> list[tuple[str, Person, str, int]]:
    """(label, reader, path, statements besides the token lookup)."""
    ann, bob, team, first = m["ann"], m["bob"], m["team"], m["ids"][0]
    return [
        ("me", ann, "/api/v3/me", 0),
        ("pending", bob, "/api/v3/meeting/pending", 1),
        ("list", ann, "/api/v3/meeting/list", 1),  # both roles at once
        ("list?role", ann, "/api/v3/meeting/list?role=requester", 1),
        ("list?status", bob, "/api/v3/meeting/list?status=confirmed", 1),
        ("details", bob, f"/api/v3/meeting/{first}", 1),
        # The member with their team and both memberships, their busy slots, their
        # linked calendar.
        ("free-slots", ann, f"/api/v3/teams/{team}/members/{bob.id}/free-slots", 3),
    ]


async def test_read_routes_statements_with_the_token_cached(
    app: Any, client: Any, meetings: dict[str, Any]
) -> None:
    for label, reader, path, budget in _routes(meetings):
        await client.get(path, headers=reader.auth)  # the lookup cached, last_used_at written
        with statements(app) as sent:
            response = await client.get(path, headers=reader.auth)
        assert response.status_code == 200, (label, response.text)
        assert len(_queries(sent)) == budget, (label, sent)


async def test_read_routes_statements_with_the_token_looked_up(
    app: Any, client: Any, meetings: dict[str, Any]
) -> None:
    app.state.token_cache = TokenCache(ttl=0)  # every lookup goes to the database
    for label, reader, path, budget in _routes(meetings):
        await client.get(path, headers=reader.auth)  # last_used_at written (throttled)
        with statements(app) as sent:
            response = await client.get(path, headers=reader.auth)
        assert response.status_code == 200, (label, response.text)
        assert len(_queries(sent)) == 1 + budget, (label, sent)


async def test_names_come_with_the_page(client: Any, meetings: dict[str, Any]) -> None:
    ann, bob = meetings["ann"], meetings["bob"]
    for reader, path in (
        (ann, "/api/v3/meeting/list"),
        (bob, "/api/v3/meeting/pending"),
        (bob, f"/api/v3/meeting/{meetings['ids'][1]}"),
    ):
        body = (await client.get(path, headers=reader.auth)).json()
        for meeting in body.get("data", [body]):
            assert (meeting["requester_name"], meeting["client_name"]) == ("Ann", "Bob")
