"""WebPushSender against a local push endpoint that decrypts like a browser would."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meetbook.config import SettingsError, load_settings
from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
)
from meetbook.notifications.vapid import vapid_application_server_key
from meetbook.notifications.webpush import WebPushSender

from .http_peer import HttpPeer

SUBJECT = "mailto:ops@meet.example.test"
PAYLOAD = {"type": "meeting-created", "meeting_id": "123", "title": "MEETING ALERT"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass
class Browser:
    """A push subscription as PushManager.subscribe() creates it, with its private half."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "keys": {
                "p256dh": b64url(point(self.private_key.public_key())),
                "auth": b64url(self.auth_secret),
            },
        }

    def decrypt(self, body: bytes) -> Any:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)


@dataclass
class PushService:
    answers: list[web.Response] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        if self.answers:
            return self.answers.pop(0)
        return web.Response(status=201)


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
async def push_service() -> AsyncIterator[tuple[PushService, HttpPeer]]:
    service = PushService()
    peer = HttpPeer()
    peer.route("POST", "/push/{id}", service.receive)
    await peer.start()
    yield service, peer
    await peer.stop()


@pytest.fixture
def browser(push_service: tuple[PushService, HttpPeer]) -> Browser:
    return Browser(f"{push_service[1].base_url}/push/subscription-1")


@pytest.fixture
def sender(vapid_key_path: Path) -> WebPushSender:
    # The local push service is on 127.0.0.1 over http.
    return WebPushSender(vapid_key_path, SUBJECT, ttl=3600, timeout=5, allow_private_targets=True)


async def test_payload_is_encrypted_for_the_subscription(
    sender: WebPushSender, browser: Browser, push_service: tuple[PushService, HttpPeer]
) -> None:
    _, peer = push_service

    await sender.send(browser.subscription(), PAYLOAD)

    [request] = peer.requests
    assert request.path == "/push/subscription-1"
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert request.headers["TTL"] == "3600"
    assert PAYLOAD["title"].encode() not in request.body
    assert browser.decrypt(request.body) == PAYLOAD


async def test_vapid_header_is_signed_for_the_endpoint_origin(
    sender: WebPushSender,
    browser: Browser,
    push_service: tuple[PushService, HttpPeer],
    vapid_key_path: Path,
) -> None:
    _, peer = push_service

    await sender.send(browser.subscription(), PAYLOAD)

    scheme, _, params = peer.requests[0].headers["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == vapid_application_server_key(vapid_key_path)
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(fields["k"])
    )
    claims = jwt.decode(fields["t"], public_key, algorithms=["ES256"], audience=peer.base_url)
    assert claims["sub"] == SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_application_server_key_is_the_uncompressed_public_point(vapid_key_path: Path) -> None:
    key = serialization.load_pem_private_key(vapid_key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    server_key = vapid_application_server_key(vapid_key_path)

    assert b64url_decode(server_key) == point(key.public_key())
    assert len(b64url_decode(server_key)) == 65
    assert "=" not in server_key


@pytest.mark.parametrize("status", [404, 410])
async def test_expired_subscription_is_gone(
    sender: WebPushSender,
    browser: Browser,
    push_service: tuple[PushService, HttpPeer],
    status: int,
) -> None:
    push_service[0].answers = [web.Response(status=status, text="subscription expired")]

    with pytest.raises(RecipientGone, match=str(status)):
        await sender.send(browser.subscription(), PAYLOAD)


async def test_too_many_requests_honours_retry_after(
    sender: WebPushSender, browser: Browser, push_service: tuple[PushService, HttpPeer]
) -> None:
    push_service[0].answers = [web.Response(status=429, headers={"Retry-After": "30"})]

    with pytest.raises(TemporaryDeliveryError) as caught:
        await sender.send(browser.subscription(), PAYLOAD)
    assert caught.value.retry_after == 30


async def test_server_error_is_temporary(
    sender: WebPushSender, browser: Browser, push_service: tuple[PushService, HttpPeer]
) -> None:
    push_service[0].answers = [web.Response(status=503)]

    with pytest.raises(TemporaryDeliveryError) as caught:
        await sender.send(browser.subscription(), PAYLOAD)
    assert caught.value.retry_after is None


async def test_other_client_errors_are_permanent(
    sender: WebPushSender, browser: Browser, push_service: tuple[PushService, HttpPeer]
) -> None:
    push_service[0].answers = [web.Response(status=413, text="payload too large")]

    with pytest.raises(PermanentDeliveryError) as caught:
        await sender.send(browser.subscription(), PAYLOAD)
    assert not isinstance(caught.value, RecipientGone)


async def test_unreachable_push_service_is_temporary(
    sender: WebPushSender, unused_port: int
) -> None:
    browser = Browser(f"http://127.0.0.1:{unused_port}/push/x")

    with pytest.raises(TemporaryDeliveryError):
        await sender.send(browser.subscription(), PAYLOAD)


async def test_a_hung_push_service_times_out_as_temporary(
    vapid_key_path: Path, silent_port: int
) -> None:
    sender = WebPushSender(vapid_key_path, SUBJECT, timeout=0.5, allow_private_targets=True)
    browser = Browser(f"http://127.0.0.1:{silent_port}/push/x")

    with pytest.raises(TemporaryDeliveryError):
        await sender.send(browser.subscription(), PAYLOAD)


@pytest.mark.parametrize(
    "subscription",
    [
        {"keys": {"p256dh": "x", "auth": "y"}},
        {"endpoint": "ftp://127.0.0.1/push", "keys": {"p256dh": "x", "auth": "y"}},
        {"endpoint": "http://127.0.0.1:9/push", "keys": {"auth": "y"}},
        {"endpoint": "http://127.0.0.1:9/push", "keys": {"p256dh": "!!", "auth": "y"}},
        # Right length, but not a point on the curve.
        {
            "endpoint": "http://127.0.0.1:9/push",
            "keys": {"p256dh": b64url(b"\x04" + bytes(64)), "auth": b64url(bytes(16))},
        },
    ],
)
async def test_malformed_subscription_is_permanent(
    sender: WebPushSender, subscription: dict[str, Any]
) -> None:
    with pytest.raises(PermanentDeliveryError):
        await sender.send(subscription, PAYLOAD)


def test_a_missing_key_file_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"

    with pytest.raises(FileNotFoundError):
        WebPushSender(missing, SUBJECT)
    assert not missing.exists()


def test_subject_must_be_mailto_or_https(vapid_key_path: Path) -> None:
    with pytest.raises(ValueError, match="subject"):
        WebPushSender(vapid_key_path, "ops@example.test")


async def test_urgency_and_topic_are_sent_as_headers(
    sender: WebPushSender, browser: Browser, push_service: tuple[PushService, HttpPeer]
) -> None:
    _, peer = push_service

    await sender.send(browser.subscription(), PAYLOAD, urgency="high", topic="meeting-123")
    await sender.send(browser.subscription(), PAYLOAD)

    first, second = peer.requests
    assert (first.headers["Urgency"], first.headers["Topic"]) == ("high", "meeting-123")
    assert second.headers["Urgency"] == "normal" and "Topic" not in second.headers


@pytest.mark.parametrize(
    ("urgency", "topic"), [("urgent", None), ("high", "x" * 33), ("high", "meeting 1")]
)
async def test_a_malformed_urgency_or_topic_is_refused(
    sender: WebPushSender, browser: Browser, urgency: str, topic: str | None
) -> None:
    with pytest.raises(ValueError):
        await sender.send(browser.subscription(), PAYLOAD, urgency=urgency, topic=topic)


@pytest.mark.parametrize(
    "subject",
    [
        "mailto:ops@localhost",
        "mailto:OPS@LocalHost",
        "mailto:ops@localhost?subject=push",
        "https://localhost",
        "https://localhost:8443/contact",
        "https://app.localhost/",
        "ops@example.test",
    ],
)
def test_a_vapid_subject_push_services_refuse_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, subject: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv("MEETBOOK_VAPID_SUBJECT", subject)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("MEETBOOK_VAPID_SUBJECT: ") and "\n" not in message


@pytest.mark.parametrize("subject", ["mailto:ops@meet.example.test", "https://meet.example.test/"])
def test_a_real_vapid_subject_is_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, subject: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEETBOOK_VAPID_SUBJECT", subject)
    assert load_settings().vapid_subject == subject
