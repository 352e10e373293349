"""Push notifications through the outbox worker: real local FCM, OAuth and Web Push peers.

A meeting is created through the API; the worker delivers the recipient's email and
pushes to the devices they registered. The FCM peer checks the OAuth bearer, the Web Push
peer's body is decrypted with the subscription's private key, as a browser would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.models import Device, Notification
from meetbook.notifications.devices import register_device
from meetbook.notifications.fcm import FcmClient
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.webpush import WebPushSender
from meetbook.notifications.worker import OutboxWorker, Providers, RetryPolicy
from tests.conftest import MovableClock, Person, World, create_meeting, future

from .http_peer import HttpPeer
from .peers import Inbox, LocalSmtpServer
from .test_fcm import PROJECT, FakeGoogle, bad_token_error, fcm_error, write_service_account
from .test_webpush import Browser, PushService

SUBJECT = "mailto:ops@meetbook.test"
FCM_SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"
FAST_RETRY = RetryPolicy(max_attempts=3, base_seconds=0.05, cap_seconds=0.2)


@pytest.fixture(scope="module")
def service_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def vapid_key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
async def google(service_key: rsa.RSAPrivateKey) -> AsyncIterator[tuple[FakeGoogle, HttpPeer]]:
    """One local server as both the OAuth token endpoint and FCM."""
    fake = FakeGoogle(service_key.public_key())
    peer = HttpPeer()
    peer.route("POST", "/token", fake.token)
    peer.route("POST", "/v1/projects/{project}/messages:send", fake.send)
    await peer.start()
    fake.token_uri = f"{peer.base_url}/token"
    yield fake, peer
    await peer.stop()


@pytest.fixture
async def push_service() -> AsyncIterator[tuple[PushService, HttpPeer]]:
    service = PushService()
    peer = HttpPeer()
    peer.route("POST", "/push/{id}", service.receive)
    await peer.start()
    yield service, peer
    await peer.stop()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


@pytest.fixture
async def providers(
    google: tuple[FakeGoogle, HttpPeer],
    service_key: rsa.RSAPrivateKey,
    vapid_key_path: Path,
    inbox: tuple[Inbox, int],
    tmp_path: Path,
) -> AsyncIterator[Providers]:
    fake, peer = google
    credentials = write_service_account(tmp_path, service_key, fake.token_uri)
    async with httpx.AsyncClient() as http:
        yield Providers(
            email=SmtpSender("127.0.0.1", inbox[1], timeout=5),
            fcm=FcmClient(credentials, http, endpoint=peer.base_url, timeout=5),
            # The local push service is on 127.0.0.1 over http.
            webpush=WebPushSender(vapid_key_path, SUBJECT, timeout=5, allow_private_targets=True),
        )


def make_worker(app: Any, providers: Providers, retry: RetryPolicy = FAST_RETRY) -> OutboxWorker:
    return OutboxWorker(app.state.sessionmaker, providers, app.state.settings, retry=retry)


def _has_devices_route(app: Any) -> bool:
    return "post" in app.openapi().get("paths", {}).get("/api/v3/devices", {})


async def register(
    app: Any, client: httpx.AsyncClient, person: Person, body: dict[str, Any]
) -> int:
    """Register a device: through `POST /api/v3/devices` when the app has it, else the service."""
    if _has_devices_route(app):
        response = await client.post("/api/v3/devices", json=body, headers=person.auth)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with sessionmaker() as session, session.begin():
        if body["platform"] == "fcm":
            device = await register_device(session, person.id, platform="fcm", token=body["token"])
        else:
            subscription = body["subscription"]
            device = await register_device(
                session,
                person.id,
                platform="webpush",
                token=subscription["endpoint"],
                subscription=subscription,
            )
        return device.id


async def devices_of(app: Any, person: Person) -> list[Device]:
    async with app.state.sessionmaker() as session:
        query = select(Device).where(Device.user_id == person.id)
        return list((await session.scalars(query)).all())


async def notification(app: Any, channel: str) -> Notification:
    async with app.state.sessionmaker() as session:
        query = select(Notification).where(
            Notification.channel == channel, Notification.schedule_key.is_(None)
        )
        return (await session.scalars(query)).one()


async def listed(
    client: httpx.AsyncClient, person: Person, meeting_id: int, channel: str
) -> dict[str, Any]:
    """The notification of `channel` as `GET /api/v3/meeting/{id}/notifications` shows it."""
    response = await client.get(f"/api/v3/meeting/{meeting_id}/notifications", headers=person.auth)
    assert response.status_code == 200, response.text
    [item] = [n for n in response.json()["data"] if n["channel"] == channel]
    return dict(item)


def fcm_sends(peer: HttpPeer) -> list[dict[str, Any]]:
    return [json.loads(r.body)["message"] for r in peer.requests if r.path == FCM_SEND_PATH]


@pytest.fixture
async def pair(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    return requester, recipient, await world.team(requester, recipient)


async def test_created_meeting_pushes_to_fcm_and_web_push(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
    push_service: tuple[PushService, HttpPeer],
    inbox: tuple[Inbox, int],
) -> None:
    requester, recipient, team_id = pair
    browser = Browser(f"{push_service[1].base_url}/push/carl-laptop")
    await register(app, client, recipient, {"platform": "fcm", "token": "carl-phone"})
    subscription = browser.subscription()
    await register(app, client, recipient, {"platform": "webpush", "subscription": subscription})
    created = await create_meeting(client, requester, recipient, team_id, future(clock))
    assert created.status_code == 201, created.text
    meeting = created.json()

    await make_worker(app, providers).drain()

    title = "MEETING ALERT"
    body = "Rita Requester requested a meeting with you. Click to Confirm or Reject."
    data = {
        "type": "meeting-created",
        "meeting_id": str(meeting["id"]),
        "booking_number": meeting["booking_number"],
    }
    [message] = fcm_sends(google[1])
    assert message["token"] == "carl-phone"
    assert message["notification"] == {"title": title, "body": body}
    assert message["data"] == data
    assert all(isinstance(value, str) for value in message["data"].values())
    assert message["android"]["collapse_key"] == f"meeting-{meeting['id']}"
    assert message["android"]["ttl"] == "86400s"
    [pushed] = push_service[1].requests
    assert pushed.headers["Content-Encoding"] == "aes128gcm"
    assert pushed.headers["Urgency"] == "high"  # a request awaiting an answer
    assert pushed.headers["Topic"] == f"meeting-{meeting['id']}"
    assert browser.decrypt(pushed.body) == {"title": title, "body": body, **data}
    assert len(inbox[0].messages()) == 1  # and the email, as before
    for channel in ("email", "fcm", "webpush"):
        shown = await listed(client, recipient, meeting["id"], channel)
        assert (shown["status"], shown["attempts"], shown["user_id"]) == ("sent", 1, recipient.id)


async def test_fcm_unregistered_token_removes_the_device_and_fails(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
) -> None:
    requester, recipient, team_id = pair
    await register(app, client, recipient, {"platform": "fcm", "token": "stale-token"})
    google[0].answers = [
        fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
    ]
    meeting = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()

    await make_worker(app, providers).drain()

    assert await devices_of(app, recipient) == []
    shown = await listed(client, recipient, meeting["id"], "fcm")
    assert (shown["status"], shown["attempts"]) == ("failed", 1)
    assert "UNREGISTERED" in shown["last_error"]
    assert (await notification(app, "email")).status == "sent"


async def test_web_push_of_a_confirmation_is_normal_urgency(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    push_service: tuple[PushService, HttpPeer],
) -> None:
    requester, recipient, team_id = pair
    browser = Browser(f"{push_service[1].base_url}/push/rita-laptop")
    body = {"platform": "webpush", "subscription": browser.subscription()}
    await register(app, client, requester, body)
    meeting = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()
    confirmed = await client.post(
        f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth
    )
    assert confirmed.status_code == 200, confirmed.text

    await make_worker(app, providers).drain()

    [pushed] = push_service[1].requests
    assert browser.decrypt(pushed.body)["type"] == "meeting-confirmed"
    assert pushed.headers["Urgency"] == "normal"
    assert pushed.headers["Topic"] == f"meeting-{meeting['id']}"


async def test_fcm_invalid_registration_token_removes_the_device(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
) -> None:
    requester, recipient, team_id = pair
    await register(app, client, recipient, {"platform": "fcm", "token": "garbled-token"})
    google[0].answers = [bad_token_error()]
    meeting = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()

    await make_worker(app, providers).drain()

    assert await devices_of(app, recipient) == []
    shown = await listed(client, recipient, meeting["id"], "fcm")
    assert shown["status"] == "failed" and "INVALID_ARGUMENT" in shown["last_error"]


async def test_web_push_410_removes_the_subscription(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    push_service: tuple[PushService, HttpPeer],
) -> None:
    requester, recipient, team_id = pair
    browser = Browser(f"{push_service[1].base_url}/push/expired")
    body = {"platform": "webpush", "subscription": browser.subscription()}
    await register(app, client, recipient, body)
    push_service[0].answers = [web.Response(status=410, text="subscription expired")]
    meeting = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()

    await make_worker(app, providers).drain()

    assert await devices_of(app, recipient) == []
    shown = await listed(client, recipient, meeting["id"], "webpush")
    assert shown["status"] == "failed"
    assert "410" in shown["last_error"]


async def test_fcm_429_waits_at_least_retry_after(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
) -> None:
    requester, recipient, team_id = pair
    await register(app, client, recipient, {"platform": "fcm", "token": "busy-phone"})
    google[0].answers = [
        fcm_error(
            429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED", **{"Retry-After": "120"}
        )
    ]
    await create_meeting(client, requester, recipient, team_id, future(clock))
    before = datetime.now(UTC)

    # The default policy: a fast one's cap would shorten Retry-After to its cap.
    await make_worker(app, providers, RetryPolicy()).drain()

    row = await notification(app, "fcm")
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at >= before + timedelta(seconds=120)
    assert row.lease_owner is None
    assert row.last_error is not None and "429" in row.last_error
    assert len(await devices_of(app, recipient)) == 1
