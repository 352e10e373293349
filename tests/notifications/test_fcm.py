"""FcmClient against a local server acting as both the OAuth token endpoint and FCM."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
)
from meetbook.notifications.fcm import SCOPE, FcmClient

from .http_peer import HttpPeer

PROJECT = "meetbook-test"
CLIENT_EMAIL = "pusher@meetbook-test.iam.gserviceaccount.com"
DATA = {"type": "meeting-created", "meeting_id": "123", "booking_number": "MB-7Q4K-9X2P"}


@pytest.fixture(scope="module")
def service_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeGoogle:
    """The token endpoint issues access-1, access-2, ...; FCM accepts only live tokens."""

    public_key: rsa.RSAPublicKey
    token_uri: str = ""
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    # Canned FCM answers, used in order; when empty FCM answers 200.
    answers: list[web.Response] = field(default_factory=list)
    token_error: web.Response | None = None

    async def token(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        claims = jwt.decode(
            form["assertion"][0], self.public_key, algorithms=["RS256"], audience=self.token_uri
        )
        self.assertions.append(claims)
        if self.token_error is not None:
            return self.token_error
        token = f"access-{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued or bearer in self.revoked:
            return fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication")
        if request.match_info["project"] != PROJECT:
            return fcm_error(404, "NOT_FOUND", "unknown project")
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"name": f"projects/{PROJECT}/messages/1"})


def fcm_error(
    status: int, rpc_status: str, message: str, fcm_code: str | None = None, **headers: str
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if fcm_code:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
        ]
    return web.json_response({"error": error}, status=status, headers=headers)


@pytest.fixture
async def google(service_key: rsa.RSAPrivateKey) -> AsyncIterator[tuple[FakeGoogle, HttpPeer]]:
    fake = FakeGoogle(service_key.public_key())
    peer = HttpPeer()
    peer.route("POST", "/token", fake.token)
    peer.route("POST", "/v1/projects/{project}/messages:send", fake.send)
    await peer.start()
    fake.token_uri = f"{peer.base_url}/token"
    yield fake, peer
    await peer.stop()


def write_service_account(
    directory: Path, key: rsa.RSAPrivateKey, token_uri: str, **overrides: Any
) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "key-1",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
        **overrides,
    }
    path = directory / "service-account.json"
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
async def fcm_client(
    google: tuple[FakeGoogle, HttpPeer], service_key: rsa.RSAPrivateKey, tmp_path: Path
) -> AsyncIterator[FcmClient]:
    fake, peer = google
    path = write_service_account(tmp_path, service_key, fake.token_uri)
    async with httpx.AsyncClient() as http:
        yield FcmClient(path, http, endpoint=peer.base_url, timeout=5)


async def test_sends_the_message_with_a_jwt_bearer_token(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, peer = google

    await fcm_client.send("device-token-1", "MEETING ALERT", "Alice requested a meeting.", DATA)

    [claims] = fake.assertions
    assert claims["aud"] == fake.token_uri
    assert claims["scope"] == SCOPE
    assert claims["iss"] == CLIENT_EMAIL
    token_request, send_request = peer.requests
    assert token_request.path == "/token"
    assert send_request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert send_request.headers["Authorization"] == "Bearer access-1"
    message = json.loads(send_request.body)["message"]
    assert message["token"] == "device-token-1"
    assert message["notification"] == {
        "title": "MEETING ALERT",
        "body": "Alice requested a meeting.",
    }
    assert message["data"] == DATA
    assert all(isinstance(value, str) for value in message["data"].values())


async def test_the_access_token_is_cached(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google

    for _ in range(3):
        await fcm_client.send("device-token-1", "t", "b", DATA)

    assert fake.issued == ["access-1"]


async def test_a_rejected_access_token_is_refreshed_once(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, peer = google
    await fcm_client.send("device-token-1", "t", "b", DATA)
    fake.revoked.add("access-1")

    await fcm_client.send("device-token-1", "t", "b", DATA)

    assert fake.issued == ["access-1", "access-2"]
    assert peer.requests[-1].headers["Authorization"] == "Bearer access-2"


async def test_a_persistent_401_is_permanent(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [fcm_error(401, "UNAUTHENTICATED", "no") for _ in range(2)]

    with pytest.raises(PermanentDeliveryError, match="401"):
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert len(fake.issued) == 2


async def test_unregistered_token_is_gone(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")]

    with pytest.raises(RecipientGone, match="UNREGISTERED"):
        await fcm_client.send("stale-token", "t", "b", DATA)


async def test_fcms_answer_stays_out_of_the_reason(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    # The reason reaches GET /meeting/{id}/notifications, readable by both participants.
    fake, _ = google
    fake.answers = [
        fcm_error(404, "NOT_FOUND", "token abc123 of project secret-42", "UNREGISTERED")
    ]

    with pytest.raises(RecipientGone) as caught:
        await fcm_client.send("stale-token", "t", "b", DATA)

    assert caught.value.reason == "HTTP 404 from FCM (NOT_FOUND/UNREGISTERED)"


async def test_unregistered_error_code_is_gone_whatever_the_status(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [fcm_error(400, "INVALID_ARGUMENT", "gone", "UNREGISTERED")]

    with pytest.raises(RecipientGone):
        await fcm_client.send("stale-token", "t", "b", DATA)


async def test_invalid_argument_is_permanent_but_keeps_the_device(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [fcm_error(400, "INVALID_ARGUMENT", "bad payload", "INVALID_ARGUMENT")]

    with pytest.raises(PermanentDeliveryError) as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert not isinstance(caught.value, RecipientGone)
    assert "INVALID_ARGUMENT" in caught.value.reason


def bad_token_error() -> web.Response:
    """FCM's answer for a malformed registration token (a BadRequest on message.token)."""
    error = {
        "code": 400,
        "message": "The registration token is not a valid FCM registration token",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "INVALID_ARGUMENT",
            },
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": "message.token", "description": "Invalid registration token"}
                ],
            },
        ],
    }
    return web.json_response({"error": error}, status=400)


async def test_invalid_registration_token_is_gone(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [bad_token_error()]

    with pytest.raises(RecipientGone, match="INVALID_ARGUMENT"):
        await fcm_client.send("not-a-token", "t", "b", DATA)


async def test_invalid_argument_about_another_field_keeps_the_device(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    answer = fcm_error(400, "INVALID_ARGUMENT", "bad ttl", "INVALID_ARGUMENT")
    body = json.loads(answer.body)  # type: ignore[arg-type]
    body["error"]["details"].append(
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "message.android.ttl", "description": "Invalid"}],
        }
    )
    fake.answers = [web.json_response(body, status=400)]

    with pytest.raises(PermanentDeliveryError) as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert not isinstance(caught.value, RecipientGone)


async def test_messages_carry_a_ttl_and_the_collapse_key(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    _, peer = google

    await fcm_client.send("device-token-1", "t", "b", DATA, collapse_key="meeting-123")

    message = json.loads(peer.requests[-1].body)["message"]
    assert message["android"] == {
        "priority": "high",
        "ttl": "86400s",
        "collapse_key": "meeting-123",
    }
    headers = message["apns"]["headers"]
    assert headers["apns-collapse-id"] == "meeting-123"
    assert int(headers["apns-expiration"]) > 0


async def test_quota_exceeded_honours_retry_after_seconds(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [
        fcm_error(429, "RESOURCE_EXHAUSTED", "slow down", "QUOTA_EXCEEDED", **{"Retry-After": "7"})
    ]

    with pytest.raises(TemporaryDeliveryError) as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert caught.value.retry_after == 7


async def test_unavailable_honours_retry_after_date(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [
        fcm_error(
            503,
            "UNAVAILABLE",
            "try later",
            "UNAVAILABLE",
            **{"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"},
        )
    ]

    with pytest.raises(TemporaryDeliveryError) as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert caught.value.retry_after is not None and caught.value.retry_after > 3600


async def test_internal_error_without_retry_after_is_temporary(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.answers = [fcm_error(500, "INTERNAL", "oops", "INTERNAL")]

    with pytest.raises(TemporaryDeliveryError) as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    assert caught.value.retry_after is None


async def test_refused_credentials_are_permanent(
    fcm_client: FcmClient, google: tuple[FakeGoogle, HttpPeer]
) -> None:
    fake, _ = google
    fake.token_error = web.json_response(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
    )

    with pytest.raises(PermanentDeliveryError, match="refused the service account") as caught:
        await fcm_client.send("device-token-1", "t", "b", DATA)
    # The token endpoint's answer goes to the log, not into the user-visible reason.
    assert "invalid_grant" not in caught.value.reason and "JWT" not in caught.value.reason


async def test_unreachable_token_endpoint_is_temporary(
    service_key: rsa.RSAPrivateKey, tmp_path: Path, unused_port: int
) -> None:
    path = write_service_account(tmp_path, service_key, f"http://127.0.0.1:{unused_port}/token")
    async with httpx.AsyncClient() as http:
        fcm_client = FcmClient(path, http, endpoint=f"http://127.0.0.1:{unused_port}", timeout=2)
        with pytest.raises(TemporaryDeliveryError, match="token"):
            await fcm_client.send("device-token-1", "t", "b", DATA)


async def test_unreachable_fcm_is_temporary(
    google: tuple[FakeGoogle, HttpPeer],
    service_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    unused_port: int,
) -> None:
    fake, _ = google
    path = write_service_account(tmp_path, service_key, fake.token_uri)
    async with httpx.AsyncClient() as http:
        fcm_client = FcmClient(path, http, endpoint=f"http://127.0.0.1:{unused_port}", timeout=2)
        with pytest.raises(TemporaryDeliveryError, match="unreachable"):
            await fcm_client.send("device-token-1", "t", "b", DATA)


async def test_a_hung_token_endpoint_times_out_as_temporary(
    service_key: rsa.RSAPrivateKey, tmp_path: Path, silent_port: int
) -> None:
    path = write_service_account(tmp_path, service_key, f"http://127.0.0.1:{silent_port}/token")
    async with httpx.AsyncClient() as http:
        fcm_client = FcmClient(path, http, endpoint=f"http://127.0.0.1:{silent_port}", timeout=0.5)
        with pytest.raises(TemporaryDeliveryError, match="token"):
            await fcm_client.send("device-token-1", "t", "b", DATA)


async def test_a_hung_fcm_endpoint_times_out_as_temporary(
    google: tuple[FakeGoogle, HttpPeer],
    service_key: rsa.RSAPrivateKey,
    tmp_path: Path,
    silent_port: int,
) -> None:
    fake, _ = google
    path = write_service_account(tmp_path, service_key, fake.token_uri)
    async with httpx.AsyncClient() as http:
        fcm_client = FcmClient(path, http, endpoint=f"http://127.0.0.1:{silent_port}", timeout=0.5)
        with pytest.raises(TemporaryDeliveryError, match="Timeout"):
            await fcm_client.send("device-token-1", "t", "b", DATA)


async def test_incomplete_credentials_are_refused(
    tmp_path: Path, service_key: rsa.RSAPrivateKey
) -> None:
    path = write_service_account(tmp_path, service_key, "http://127.0.0.1:1/token", project_id="")

    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="project_id"):
            FcmClient(path, http)
