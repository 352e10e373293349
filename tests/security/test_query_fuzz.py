"""Every query-parameter parser, fuzzed with arbitrary text on SQLite and PostgreSQL.

`GET /api/v3/meeting/list?from=--5` answered 500 (int("--5") after a digits check that
ignored the doubled sign). Whatever the text, each parameter must give a 2xx or a 4xx
in the error envelope, never a 5xx; the web pages likewise never a 5xx.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import MovableClock, Person, World, create_meeting, future
from tests.security.test_text_input import PASSWORD, web_sign_in
from tests.test_errors import assert_envelope

EXAMPLES = 120
# Text from all of Unicode, plus values each parser treats specially, plus near misses.
SPECIAL = [
    "",
    " ",
    "-",
    "--5",
    "-5",
    "+5",
    "5",
    "0",
    "9" * 13,
    "²",
    "1e3",
    "2031-06-17",
    "2031-06-17T10:00",
    "2031-06-17T10:00+05:60",
    "2031-06-17T10:00+24:00",
    "0001-01-01T00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "pending",
    "pending,confirmed",
    "pending\t",
    ",,,",
    "asc",
    "desc",
    "requester",
    "recipient",
    "1",
    "100",
    "101",
    str(2**63),
    "-1",
    "eyJ9",
    "W10",
    "WzEsMiwiYXNjIl0",
    "W3RydWUsMSwiYXNjIl0",
    "\x00",
    "%00",
    "upcoming",
    "pending-meeting",
    "past",
    "sent",
]
VALUES = st.one_of(st.text(max_size=80), st.sampled_from(SPECIAL), st.integers().map(str))


def params_for(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(st.sampled_from(names), VALUES, max_size=len(names))


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_no_server_error(response: httpx.Response, params: dict[str, str]) -> None:
    assert response.status_code < 500, (params, response.text[:300])
    if response.status_code >= 400:
        assert_envelope(response, response.status_code)


@pytest.fixture
async def people(client: httpx.AsyncClient, world: World, clock: MovableClock) -> Person:
    """A person with a few meetings, so lists have rows, cursors and filters to apply."""
    ana = await world.person(password=PASSWORD)
    ben = await world.person()
    team = await world.team(ana, ben)
    for days in (1, 2, 3):
        assert (
            await create_meeting(client, ana, ben, team, future(clock, days))
        ).status_code == 201
        assert (
            await create_meeting(client, ben, ana, team, future(clock, days, 9))
        ).status_code == 201
    return ana


LIST_PARAMS = ["status", "team_id", "role", "from", "to", "order", "limit", "cursor"]
PENDING_PARAMS = ["team_id", "limit", "cursor"]


@FUZZ
@given(params=params_for(LIST_PARAMS))
async def test_list_parameters(
    client: httpx.AsyncClient, people: Person, params: dict[str, str]
) -> None:
    response = await client.get("/api/v3/meeting/list", params=params, headers=people.auth)
    assert_no_server_error(response, params)


@FUZZ
@given(params=params_for(PENDING_PARAMS))
async def test_pending_parameters(
    client: httpx.AsyncClient, people: Person, params: dict[str, str]
) -> None:
    response = await client.get("/api/v3/meeting/pending", params=params, headers=people.auth)
    assert_no_server_error(response, params)


async def test_known_bad_bounds_are_400(client: httpx.AsyncClient, people: Person) -> None:
    for value in ("--5", "2031-06-17T10:00+05:60", "9" * 13, "²"):
        for name in ("from", "to"):
            response = await client.get(
                "/api/v3/meeting/list", params={name: value}, headers=people.auth
            )
            assert name in assert_envelope(response, 400)["message"], value


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, people: Person) -> httpx.AsyncClient:
    await web_sign_in(client, people)
    return client


@FUZZ
@given(
    path=st.sampled_from(["/meetings", "/meetings/new", "/settings"]),
    params=params_for(["tab", "cursor", "team", "member", "next"]),
)
async def test_web_page_parameters(
    signed_in: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await signed_in.get(path, params=params, headers={"Accept": "text/html"})
    assert response.status_code < 500, (path, params, response.text[:300])
