"""Managing a team's webhooks over the API (CONTRACT §1.9), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from meetbook.accounts import service as accounts
from meetbook.app import create_app
from meetbook.models import Notification, Webhook
from meetbook.webhooks.schemas import EVENTS
from meetbook.webhooks.secrets import open_secret
from tests.conftest import MovableClock, World, create_meeting, future, settings_for
from tests.webhooks.conftest import Team, add_webhook
from tests.webhooks.receiver import Receiver

SECRET_KEY = "test-secret-key-" + "x" * 32


async def test_an_admin_registers_a_webhook_and_sees_the_secret_once(
    client: httpx.AsyncClient, team: Team, receiver: Receiver, sessionmaker: Any
) -> None:
    created = await add_webhook(client, team, receiver, list(EVENTS))
    assert created["secret"].startswith("whsec_")
    assert created["url"] == receiver.url
    assert created["events"] == list(EVENTS)  # every §2 event is accepted
    assert created["enabled"] is True and created["team_id"] == team.id

    listed = await client.get(f"/api/v3/teams/{team.id}/webhooks", headers=team.admin.auth)
    assert listed.status_code == 200
    [hook] = listed.json()["data"]
    assert hook["id"] == created["id"] and "secret" not in hook
    assert created["secret"] not in listed.text

    # Stored encrypted: not readable from the row, readable with the secret key.
    async with sessionmaker() as session:
        row = await session.get(Webhook, created["id"])
    assert created["secret"] not in row.secret_encrypted
    assert created["secret"].removeprefix("whsec_") not in row.secret_encrypted
    assert open_secret(row.secret_encrypted, SECRET_KEY) == created["secret"]


async def test_only_team_admins_manage_webhooks(
    client: httpx.AsyncClient, team: Team, receiver: Receiver, world: World
) -> None:
    hook = await add_webhook(client, team, receiver)
    base = f"/api/v3/teams/{team.id}/webhooks"
    body = {"url": receiver.url, "events": ["meeting-created"]}
    stranger = await world.person("Sam Stranger")
    for method, path, json in [
        ("POST", base, body),
        ("GET", base, None),
        ("DELETE", f"{base}/{hook['id']}", None),
        ("GET", f"{base}/{hook['id']}/deliveries", None),
        ("POST", f"{base}/{hook['id']}/test", None),
    ]:
        answer = await client.request(method, path, json=json, headers=team.member.auth)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json() == {
            "error": 403,
            "message": "Only an admin of this team can manage its webhooks.",
        }
        answer = await client.request(method, path, json=json, headers=stranger.auth)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["message"] == f"Team {team.id} was not found."


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "events": ["meeting-exploded"]}, "events"),
        ({"url": "https://hooks.example.com/x", "events": "meeting-created"}, "events"),
        ({"url": "https://hooks.example.com/x"}, "events"),
        ({"url": 5, "events": ["meeting-created"]}, "url"),
        ({"url": "https://hooks.example.com/a\x00b", "events": ["meeting-created"]}, "url"),
        ({"url": "https://hooks.example.com/a b", "events": ["meeting-created"]}, "url"),
        ({"url": "https://hooks.example.com/\u202e", "events": ["meeting-created"]}, "url"),
        ({"events": ["meeting-created"]}, "url"),
        ({"url": "https://x.example/" + "a" * 2100, "events": ["meeting-created"]}, "url"),
    ],
)
async def test_bad_bodies_get_400_naming_the_field(
    client: httpx.AsyncClient, team: Team, body: dict[str, Any], field: str
) -> None:
    answer = await client.post(
        f"/api/v3/teams/{team.id}/webhooks", json=body, headers=team.admin.auth
    )
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["error"] == 400 and field in problem["message"]
    assert problem["details"][0]["field"] == field


async def test_delete_removes_the_endpoint_and_its_queued_messages(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    made = await create_meeting(client, team.member, team.other, team.id, future(clock))
    assert made.status_code == 201
    async with sessionmaker() as session:
        queued = (
            await session.scalars(select(Notification).where(Notification.webhook_id == hook["id"]))
        ).all()
    assert [row.event for row in queued] == ["meeting-created"]

    base = f"/api/v3/teams/{team.id}/webhooks"
    assert (await client.delete(f"{base}/{hook['id']}", headers=team.admin.auth)).status_code == 204
    assert (await client.get(base, headers=team.admin.auth)).json() == {"data": []}
    async with sessionmaker() as session:
        left = (
            await session.scalars(select(Notification).where(Notification.webhook_id.is_not(None)))
        ).all()
    assert left == []
    again = await client.delete(f"{base}/{hook['id']}", headers=team.admin.auth)
    assert again.status_code == 404
    assert again.json() == {"error": 404, "message": f"Webhook {hook['id']} was not found."}


async def test_webhook_messages_stay_out_of_the_meetings_notifications_list(
    client: httpx.AsyncClient, team: Team, receiver: Receiver, clock: MovableClock
) -> None:
    await add_webhook(client, team, receiver)
    made = (await create_meeting(client, team.member, team.other, team.id, future(clock))).json()
    listed = await client.get(
        f"/api/v3/meeting/{made['id']}/notifications", headers=team.member.auth
    )
    assert {item["channel"] for item in listed.json()["data"]} == {"email"}


async def test_only_subscribed_events_of_the_own_team_are_queued(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    clock: MovableClock,
    world: World,
    sessionmaker: Any,
) -> None:
    await add_webhook(client, team, receiver, ["meeting-confirmed"])
    other_team = await world.team(team.member, team.other, name="Elsewhere")
    await create_meeting(client, team.member, team.other, other_team, future(clock, 3))
    made = (await create_meeting(client, team.member, team.other, team.id, future(clock))).json()
    await client.post(f"/api/v3/meeting/{made['id']}/confirm", headers=team.other.auth)
    async with sessionmaker() as session:
        queued = (
            await session.scalars(select(Notification).where(Notification.channel == "webhook"))
        ).all()
    assert [(row.event, row.meeting_id) for row in queued] == [("meeting-confirmed", made["id"])]
    payload = queued[0].context["payload"]
    assert payload["type"] == "meeting-confirmed"
    assert payload["data"]["actor_id"] == team.other.id
    assert payload["data"]["meeting"]["status"] == "confirmed"
    assert payload["data"]["meeting"]["booking_number"] == made["booking_number"]


# The outbound-URL guard ----------------------------------------------------------------------


@pytest.fixture
async def strict_app(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Any]:
    """The app with MEETBOOK_ALLOW_PRIVATE_TARGETS off (the default)."""
    application = create_app(
        settings_for(database_url, tmp_path, allow_private_targets=False), clock=clock
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "it must be an https URL"),
        ("https://127.0.0.1:8443/x", "127.0.0.1 is a loopback address"),
        ("https://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("https://10.0.0.8/x", "10.0.0.8 is a private address"),
        ("https://localhost/x", "localhost is a local name"),
        ("https://user:pw@hooks.example.com/x", "must not contain a user name or password"),
    ],
)
async def test_non_public_urls_are_refused_with_400(strict_app: Any, url: str, reason: str) -> None:
    world = World(strict_app.state.sessionmaker)
    admin = await world.person("Ada Admin")
    team_id = await world.team(name="Strict")
    async with strict_app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, admin.id, role="admin")
    transport = httpx.ASGITransport(app=strict_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as client:
        answer = await client.post(
            f"/api/v3/teams/{team_id}/webhooks",
            json={"url": url, "events": ["meeting-created"]},
            headers=admin.auth,
        )
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["message"].startswith("Invalid value for url: is not allowed because")
    assert reason in problem["message"]
    assert problem["details"] == [
        {"field": "url", "message": problem["message"][len("Invalid value for url: ") : -1]}
    ]
