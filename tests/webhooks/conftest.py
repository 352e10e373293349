"""Fixtures of the webhook tests: a team with an admin, a receiver, a worker with a clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.accounts import service as accounts
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.worker import OutboxWorker, Providers
from meetbook.webhooks.delivery import WebhookRetry
from tests.conftest import MovableClock, Person, World
from tests.webhooks.receiver import Receiver

# Retries due 1 s after a failure (with jitter): tests move the worker's clock past them.
FAST = WebhookRetry(schedule=(1.0, 1.0, 1.0), max_attempts=4, jitter=0.0)


@dataclass
class Team:
    id: int
    admin: Person
    member: Person
    other: Person  # the member's meeting partner (a member too)


@pytest_asyncio.fixture
async def team(world: World, sessionmaker: async_sessionmaker[AsyncSession]) -> Team:
    admin = await world.person("Ada Admin")
    member = await world.person("Rita Requester")
    other = await world.person("Carl Client")
    team_id = await world.team(member, other, name="Acme")
    async with sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, admin.id, role="admin")
    return Team(team_id, admin, member, other)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    peer = Receiver()
    await peer.start()
    yield peer
    peer.gate.set()
    await peer.peer.stop()


@pytest.fixture
def worker_clock() -> MovableClock:
    """The worker's clock (webhook-timestamp, retries), apart from the app's; a little
    ahead of the rows the test makes, so they are due (and within receivers' tolerance)."""
    clock = MovableClock()
    clock.advance(seconds=30)
    return clock


@pytest.fixture
def worker(
    app: Any, sessionmaker: async_sessionmaker[AsyncSession], worker_clock: MovableClock
) -> OutboxWorker:
    providers = Providers(email=DevMailbox(sessionmaker))
    return OutboxWorker(
        sessionmaker, providers, app.state.settings, webhook_retry=FAST, clock=worker_clock
    )


async def add_webhook(
    client: Any, team: Team, receiver: Receiver, events: list[str] | None = None
) -> dict[str, Any]:
    """Register the receiver for `events` (all meeting-created/-confirmed by default)."""
    body = {"url": receiver.url, "events": events or ["meeting-created", "meeting-confirmed"]}
    answer = await client.post(
        f"/api/v3/teams/{team.id}/webhooks", json=body, headers=team.admin.auth
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    receiver.secret = created["secret"]
    return created
