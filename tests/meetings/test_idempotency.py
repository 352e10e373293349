"""Idempotency-Key on create: same key + same body → the first response; other body → 422."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from meetbook.models import Meeting
from tests.conftest import World, future


@pytest.fixture
async def setup(world: World, clock):
    requester = await world.person()
    recipient = await world.person()
    team_id = await world.team(requester, recipient)
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock)}
    return requester, recipient, team_id, body


async def test_retry_returns_the_first_response(client, setup, sessionmaker) -> None:
    requester, _, _, body = setup
    headers = {**requester.auth, "Idempotency-Key": "k-1"}
    first = await client.post("/api/v3/meeting/create", json=body, headers=headers)
    second = await client.post("/api/v3/meeting/create", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["location"] == first.headers["location"]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 1


async def test_same_key_other_body_is_422(client, setup, clock) -> None:
    requester, _, _, body = setup
    headers = {**requester.auth, "Idempotency-Key": "k-2"}
    await client.post("/api/v3/meeting/create", json=body, headers=headers)
    other = {**body, "date": future(clock, days=9)}
    response = await client.post("/api/v3/meeting/create", json=other, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]


async def test_keys_are_per_caller(client, world: World, setup) -> None:
    requester, recipient, team_id, body = setup
    colleague = await world.person()
    await world.team(colleague, recipient)
    from meetbook.accounts import service as accounts

    async with world.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, colleague.id)
    a = await client.post(
        "/api/v3/meeting/create", json=body, headers={**requester.auth, "Idempotency-Key": "same"}
    )
    b = await client.post(
        "/api/v3/meeting/create", json=body, headers={**colleague.auth, "Idempotency-Key": "same"}
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


async def test_key_expires_after_24_hours(client, setup, clock) -> None:
    requester, _, _, body = setup
    headers = {**requester.auth, "Idempotency-Key": "k-3"}
    first = await client.post("/api/v3/meeting/create", json=body, headers=headers)
    clock.advance(hours=25)
    body = {**body, "date": future(clock)}
    second = await client.post("/api/v3/meeting/create", json=body, headers=headers)
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "bad\x01key"])
async def test_malformed_key_is_400(client, setup, key) -> None:
    requester, _, _, body = setup
    response = await client.post(
        "/api/v3/meeting/create", json=body, headers={**requester.auth, "Idempotency-Key": key}
    )
    assert response.status_code == 400


async def test_failed_first_attempt_is_not_replayed(client, setup, clock) -> None:
    requester, _, _, body = setup
    headers = {**requester.auth, "Idempotency-Key": "k-4"}
    bad = {**body, "team_id": 999999}
    assert (
        await client.post("/api/v3/meeting/create", json=bad, headers=headers)
    ).status_code == 404
    # An error rolls the reservation back with everything else: the key is free again.
    assert (
        await client.post("/api/v3/meeting/create", json=body, headers=headers)
    ).status_code == 201
