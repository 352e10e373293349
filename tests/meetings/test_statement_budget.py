"""How many SQL statements a create and a confirm send (issue #15: a write route's cost is
mostly its number of statements). A change that adds one fails here: raise the budget
only knowingly, in docs/benchmarks.md's terms."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from meetbook.auth.tokencache import TokenCache
from tests.conftest import (
    Person,
    World,
    backend_of,
    create_meeting,
    future,
    statements,
    team_with_phones,
)

# Statements per request, the token lookup excluded (cached), with a phone per person. Before
# issue #15's write-path work: create 16 (PostgreSQL) / 18 (SQLite), confirm 21 / 27 without
# phones (`python -m bench.write_path`). SQLite's count includes the BEGIN (IMMEDIATE) and
# COMMIT the app sends itself, and one INSERT per outbox row (its ORM flush asks each
# row's id back one at a time); asyncpg's BEGIN and COMMIT are not cursor statements.
BUDGET = {
    ("create", "sqlite"): 13,
    ("create", "postgres"): 8,
    ("confirm", "sqlite"): 23,
    ("confirm", "postgres"): 15,
}


@pytest.fixture
async def pair(app: Any, client: httpx.AsyncClient, world: World) -> tuple[Person, Person, int]:
    """Two members of a team, each with a phone, whose tokens stay cached."""
    # A clock that never moves: the cached tokens never expire, so no lookup is counted.
    app.state.token_cache = TokenCache(5.0, monotonic=lambda: 0.0)
    return await team_with_phones(client, world)


def _lookups(sent: list[str], table: str) -> int:
    return sum(f"FROM {table}" in statement for statement in sent)


async def test_a_create_and_a_confirm_stay_within_their_statements(
    app: Any, client: httpx.AsyncClient, pair: tuple[Person, Person, int], clock: Any
) -> None:
    requester, recipient, team_id = pair
    backend = backend_of(str(app.state.engine.url))
    with statements(app) as sent:
        created = await create_meeting(client, requester, recipient, team_id, future(clock))
    assert created.status_code == 201, created.text
    assert len(sent) <= BUDGET["create", backend], "\n".join(sent)
    # The event and the expiring nudge go to the same person: their phones and the
    # team's webhooks are read once.
    assert (_lookups(sent, "devices"), _lookups(sent, "webhooks")) == (1, 1)

    meeting = created.json()["id"]
    with statements(app) as sent:
        confirmed = await client.post(f"/api/v3/meeting/{meeting}/confirm", headers=recipient.auth)
    assert confirmed.status_code == 200, confirmed.text
    assert len(sent) <= BUDGET["confirm", backend], "\n".join(sent)
    # The event to the requester and a reminder to each: both participants' phones in one
    # lookup, the webhooks in one.
    assert (_lookups(sent, "devices"), _lookups(sent, "webhooks")) == (1, 1)
