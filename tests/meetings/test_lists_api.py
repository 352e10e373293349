"""GET /pending and /list: filters, order, keyset pagination."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.conftest import MovableClock, World, create_meeting


def _slot(clock: MovableClock, hours: int) -> str:
    return (clock.now + timedelta(days=1, hours=hours)).strftime("%Y-%m-%dT%H:00:00Z")


@pytest.fixture
async def people(world: World):
    a = await world.person("Ann")
    b = await world.person("Bob")
    c = await world.person("Cy")
    team_ab = await world.team(a, b, name="AB")
    team_ac = await world.team(a, c, name="AC")
    return a, b, c, team_ab, team_ac


async def test_pending_lists_requests_to_me_soonest_first(client, people, clock) -> None:
    a, b, c, team_ab, team_ac = people
    later = await create_meeting(client, b, a, team_ab, _slot(clock, 5))
    sooner = await create_meeting(client, c, a, team_ac, _slot(clock, 2))
    await create_meeting(client, a, b, team_ab, _slot(clock, 1))  # sent by a: not pending for a
    response = await client.get("/api/v3/meeting/pending", headers=a.auth)
    assert [m["id"] for m in response.json()["data"]] == [sooner.json()["id"], later.json()["id"]]
    filtered = await client.get(f"/api/v3/meeting/pending?team_id={team_ab}", headers=a.auth)
    assert [m["id"] for m in filtered.json()["data"]] == [later.json()["id"]]


async def test_list_filters(client, people, clock) -> None:
    a, b, c, team_ab, team_ac = people
    m1 = (await create_meeting(client, a, b, team_ab, _slot(clock, 1))).json()["id"]
    m2 = (await create_meeting(client, c, a, team_ac, _slot(clock, 2))).json()["id"]
    m3 = (await create_meeting(client, b, a, team_ab, _slot(clock, 3))).json()["id"]
    await client.post(f"/api/v3/meeting/{m2}/confirm", headers=a.auth)

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/api/v3/meeting/list?{query}", headers=a.auth)
        assert response.status_code == 200, response.text
        return [m["id"] for m in response.json()["data"]]

    assert await ids("") == [m1, m2, m3]
    assert await ids("order=desc") == [m3, m2, m1]
    assert await ids("role=requester") == [m1]
    assert await ids("role=recipient") == [m2, m3]
    assert await ids("status=confirmed") == [m2]
    assert await ids("status=pending,confirmed") == [m1, m2, m3]
    assert await ids(f"team_id={team_ac}") == [m2]
    start2 = int(datetime.fromisoformat(_slot(clock, 2)).timestamp())
    assert await ids(f"from={start2}") == [m2, m3]
    assert await ids(f"to={start2}") == [m1, m2]
    iso = datetime.fromtimestamp(start2, UTC).isoformat()
    assert await ids(urlencode({"from": iso, "to": iso})) == [m2]


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "role=boss",
        "order=sideways",
        "from=yesterday",
        "cursor=%%%",
        "limit=0",
        "limit=101",
        "team_id=abc",
    ],
)
async def test_unknown_filter_values_are_400(client, people, query) -> None:
    a = people[0]
    response = await client.get(f"/api/v3/meeting/list?{query}", headers=a.auth)
    assert response.status_code == 400
    assert response.json()["error"] == 400


async def test_cursor_pages_have_no_duplicates_or_gaps_while_rows_are_inserted(
    app, client, people, clock
) -> None:
    # Some 60 requests from one requester: past the per-requester create limit.
    app.state.settings = app.state.settings.model_copy(update={"rate_limit_create": "off"})
    a, b, _, team_ab, _ = people
    originals = []
    for hour in range(0, 50):
        response = await create_meeting(client, b, a, team_ab, _slot(clock, hour * 2))
        originals.append(response.json()["id"])
    seen: list[int] = []
    cursor = None
    inserted = 0
    while True:
        query = "limit=7" + (f"&cursor={cursor}" if cursor else "")
        page, _ = await asyncio.gather(
            client.get(f"/api/v3/meeting/list?{query}", headers=a.auth),
            # Meanwhile new meetings land before, between and after the pages.
            create_meeting(client, b, a, team_ab, _slot(clock, inserted * 2 + 1)),
        )
        inserted += 1
        body = page.json()
        seen.extend(m["id"] for m in body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a meeting appeared twice"
    assert set(originals) <= set(seen), "a meeting present from the start was skipped"
    starts = [m for m in seen]
    assert starts  # every page was ordered; check order globally below
    all_listed = await client.get("/api/v3/meeting/list?limit=100", headers=a.auth)
    order = [m["id"] for m in all_listed.json()["data"]]
    assert [m for m in order if m in set(seen)] == seen


async def test_desc_pagination_walks_everything_once(client, people, clock) -> None:
    a, b, _, team_ab, _ = people
    created = [
        (await create_meeting(client, b, a, team_ab, _slot(clock, h))).json()["id"]
        for h in range(9)
    ]
    seen, cursor = [], None
    while True:
        query = "order=desc&limit=4" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(f"/api/v3/meeting/list?{query}", headers=a.auth)).json()
        seen.extend(m["id"] for m in body["data"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(created))


async def test_cursor_of_other_order_is_refused(client, people, clock) -> None:
    a, b, _, team_ab, _ = people
    for h in range(3):
        await create_meeting(client, b, a, team_ab, _slot(clock, h))
    body = (await client.get("/api/v3/meeting/list?limit=1", headers=a.auth)).json()
    response = await client.get(
        f"/api/v3/meeting/list?order=desc&cursor={body['next_cursor']}", headers=a.auth
    )
    assert response.status_code == 400
