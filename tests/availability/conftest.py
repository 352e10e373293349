"""Factories for the availability tests: teams with an admin, confirmed meetings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from meetbook.accounts import service as accounts
from tests.conftest import MovableClock, Person, World, create_meeting


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, pinned: these tests name days of 2027 (its clock changes among
    them), which must stay in the future whenever the suite runs."""
    return MovableClock(now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def admin_team(world: World) -> Callable[..., Awaitable[int]]:
    """`await admin_team(admin, *members)`: a team whose first person is its admin."""

    async def make(admin: Person, *members: Person) -> int:
        team_id = await world.team(admin, *members)
        async with world.sessionmaker() as session, session.begin():
            await accounts.add_member(session, team_id, admin.id, "admin")
        return team_id

    return make


async def confirmed(
    client: httpx.AsyncClient, by: Person, to: Person, team_id: int, date: str
) -> dict[str, Any]:
    """A meeting `by` requested and `to` confirmed."""
    created = await create_meeting(client, by, to, team_id, date)
    assert created.status_code == 201, created.text
    meeting_id = created.json()["id"]
    response = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=to.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
