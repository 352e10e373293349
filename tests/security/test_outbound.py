"""Server-side request forgery: URLs users supply reach public https addresses only.

Everything here runs with MEETBOOK_ALLOW_PRIVATE_TARGETS off (the test settings turn it
on for the local peers of the other tests) except where a test says it is on.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meetbook.app import create_app
from meetbook.config import Settings
from meetbook.notifications.errors import PermanentDeliveryError, TemporaryDeliveryError
from meetbook.notifications.webpush import WebPushSender
from meetbook.outbound import OutboundRefused, check_public_url, resolve_public_url
from meetbook.outbound_http import PublicAddressResolver, public_only_session
from tests.conftest import MovableClock, World, settings_for
from tests.notifications.http_peer import HttpPeer
from tests.notifications.test_endpoints import webpush_body
from tests.notifications.test_webpush import Browser

REFUSED = [
    ("http://push.example.com/send", "must be an https URL"),
    ("ftp://push.example.com/send", "must be an https URL"),
    ("https://user:secret@push.example.com/", "user name or password"),
    ("https:///no-host", "no host"),
    ("https://push.example.com:99999/", "not a valid URL"),
    ("https://127.0.0.1/push", "127.0.0.1 is a loopback address"),
    ("https://127.5.6.7/push", "is a loopback address"),
    ("https://10.1.2.3/", "10.1.2.3 is a private address"),
    ("https://172.16.0.1/", "is a private address"),
    ("https://192.168.1.10/", "is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
    ("https://[fd00:ec2::254]/latest", "the cloud metadata address"),
    ("https://169.254.10.20/", "is a link-local address"),
    ("https://100.64.1.1/", "is a shared (CGNAT) address"),
    ("https://224.0.0.251/", "is a multicast address"),
    ("https://240.1.2.3/", "is a private address"),  # reserved, listed by ipaddress as private
    ("https://0.0.0.0/", "is an unspecified address"),
    ("https://198.18.0.1/", "is a private address"),  # benchmarking
    ("https://192.0.2.1/", "is a private address"),  # documentation
    ("https://[::1]/", "::1 is a loopback address"),
    ("https://[::]/", "is an unspecified address"),
    ("https://[fe80::1]/", "is a link-local address"),
    ("https://[fc00::1]/", "is a private address"),
    ("https://[fec0::1]/", "is a site-local address"),
    ("https://[ff02::1]/", "is a multicast address"),
    ("https://[2001:db8::1]/", "is a private address"),
    ("https://[::ffff:127.0.0.1]/", "an IPv6 form of a loopback address"),
    ("https://[::ffff:10.0.0.1]/", "an IPv6 form of a private address"),
    ("https://[2002:a00:1::]/", "an IPv6 form of a private address"),  # 6to4 of 10.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/", "an IPv6 form of the cloud metadata address"),  # NAT64
    # Legacy IPv4 spellings that resolvers turn into 127.0.0.1.
    ("https://2130706433/", "127.0.0.1 is a loopback address"),
    ("https://127.1/", "127.0.0.1 is a loopback address"),
    ("https://0x7f.0.0.1/", "127.0.0.1 is a loopback address"),
    ("https://localhost/push", "localhost is a local name"),
    ("https://LOCALHOST./push", "is a local name"),
    ("https://push.localhost/", "is a local name"),
    ("https://printer.local/", "is a local name"),
    ("https://metadata.google.internal/computeMetadata/v1/", "is a local name"),
    ("https://router.home.arpa/", "is a local name"),
]
ACCEPTED = [
    "https://fcm.googleapis.com/fcm/send/abc",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
    "https://8.8.8.8/push",
    "https://[2606:4700:4700::1111]/push",
    "https://push.example.com:8443/x",
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_guard_refuses_every_non_public_target(url: str, reason: str) -> None:
    with pytest.raises(OutboundRefused) as caught:
        check_public_url(url, allow_private=False)
    assert reason in caught.value.reason


@pytest.mark.parametrize("url", ACCEPTED)
def test_the_guard_accepts_public_https_targets(url: str) -> None:
    target = check_public_url(url, allow_private=False)
    assert target.url == url and target.port in (443, 8443)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8123/push", "https://10.0.0.5/", "http://localhost/p"]
)
def test_private_targets_pass_when_the_operator_allows_them(url: str) -> None:
    assert check_public_url(url, allow_private=True).url == url


def _local_name() -> str:
    """A name (not `localhost`) that resolves on this machine to a non-public address."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    except OSError:
        pytest.skip(f"this machine's own name {name!r} does not resolve")
    try:
        check_public_url(f"https://{name}/", allow_private=False)
        for address in addresses:
            check_public_url(f"https://[{address}]/", allow_private=False)
    except OutboundRefused:
        return name  # the name passes by itself, one of its addresses does not
    pytest.skip(f"{name!r} resolves to public addresses only here")


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    name = _local_name()
    assert check_public_url(f"https://{name}/push", allow_private=False)  # the URL looks fine

    with pytest.raises(OutboundRefused) as caught:
        await resolve_public_url(f"https://{name}/push", allow_private=False)

    assert f"its host {name} resolves to a" in caught.value.reason
    # The address itself is not told: that would map internal names for whoever asks.
    assert "127." not in caught.value.reason


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(OutboundRefused, match="does not resolve"):
        await resolve_public_url("https://push.example.invalid/x", allow_private=False)


async def test_the_connecting_resolver_refuses_private_answers() -> None:
    resolver = PublicAddressResolver()
    try:
        with pytest.raises(OutboundRefused, match="resolves to"):
            await resolver.resolve(_local_name(), 443)
    finally:
        await resolver.close()


@pytest.fixture
async def peer() -> AsyncIterator[HttpPeer]:
    """A local push service: it must never be reached while private targets are refused."""
    server = HttpPeer()

    async def created(_request: web.Request) -> web.Response:
        return web.Response(status=201)

    server.route("POST", "/push/{id}", created)
    server.route("GET", "/{tail:.*}", created)
    await server.start()
    yield server
    await server.stop()


async def test_the_guarded_session_never_connects_inside(peer: HttpPeer) -> None:
    name = _local_name()
    async with public_only_session(allow_private=False) as session:
        with pytest.raises(OutboundRefused, match="https"):
            await session.get(f"{peer.base_url}/direct")
        # A public-looking name whose DNS answer is private: refused when connecting.
        with pytest.raises(OutboundRefused, match="resolves to"):
            await session.get(f"https://{name}:{peer.port}/renamed")
    assert peer.requests == []


# Registration ------------------------------------------------------------------------------


async def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://meetbook.test")


@pytest.fixture
async def strict_app(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Any]:
    """The app with MEETBOOK_ALLOW_PRIVATE_TARGETS off (the default)."""
    settings = settings_for(database_url, tmp_path, allow_private_targets=False)
    assert Settings.model_fields["allow_private_targets"].default is False
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize(
    ("endpoint", "reason"),
    [
        ("http://127.0.0.1:{port}/push/1", "must be an https URL"),
        ("https://127.0.0.1:{port}/push/1", "127.0.0.1 is a loopback address"),
        ("https://[::ffff:127.0.0.1]:{port}/push/1", "IPv6 form of a loopback address"),
        ("https://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("https://10.0.0.8/push", "10.0.0.8 is a private address"),
        ("https://localhost:{port}/push/1", "localhost is a local name"),
        ("https://{host}:{port}/push/1", "resolves to a loopback address"),
    ],
)
async def test_registering_a_private_push_endpoint_is_refused(
    strict_app: Any, peer: HttpPeer, endpoint: str, reason: str
) -> None:
    person = await World(strict_app.state.sessionmaker).person()
    host = _local_name() if "{host}" in endpoint else ""
    url = endpoint.format(port=peer.port, host=host)
    async with await _client(strict_app) as client:
        response = await client.post("/api/v3/devices", json=webpush_body(url), headers=person.auth)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"].startswith("Invalid value for subscription.endpoint: is not allowed")
    assert reason in body["message"]
    assert body["details"][0]["field"] == "subscription.endpoint"
    assert peer.requests == []


async def test_a_local_push_endpoint_registers_when_private_targets_are_allowed(
    database_url: str, tmp_path: Path, clock: MovableClock, peer: HttpPeer
) -> None:
    settings = settings_for(database_url, tmp_path, allow_private_targets=True)
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        person = await World(application.state.sessionmaker).person()
        async with await _client(application) as client:
            response = await client.post(
                "/api/v3/devices",
                json=webpush_body(f"{peer.base_url}/push/1"),
                headers=person.auth,
            )
    assert response.status_code == 201, response.text


# Sending ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vapid_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


PAYLOAD = {"title": "MEETING ALERT", "body": "hello", "type": "meeting-created"}


@pytest.mark.parametrize("where", ["{base}/push/1", "https://{host}:{port}/push/1"])
async def test_sending_to_a_private_endpoint_is_a_permanent_failure(
    vapid_key: Path, peer: HttpPeer, where: str
) -> None:
    # Registered while allowed, or its name's DNS changed since: checked again at send time.
    sender = WebPushSender(vapid_key, "mailto:ops@example.com", timeout=5)
    host = _local_name() if "{host}" in where else ""
    browser = Browser(where.format(base=peer.base_url, host=host, port=peer.port))

    with pytest.raises(PermanentDeliveryError) as caught:
        await sender.send(browser.subscription(), PAYLOAD)

    assert caught.value.reason == "the push endpoint is not a public https address"
    assert peer.requests == []


async def test_sending_to_a_local_endpoint_works_when_allowed(
    vapid_key: Path, peer: HttpPeer
) -> None:
    sender = WebPushSender(
        vapid_key, "mailto:ops@example.com", timeout=5, allow_private_targets=True
    )
    browser = Browser(f"{peer.base_url}/push/1")

    await sender.send(browser.subscription(), PAYLOAD)

    [request] = peer.requests
    assert browser.decrypt(request.body)["title"] == "MEETING ALERT"


async def test_a_push_services_answer_is_never_the_users_reason(
    vapid_key: Path,
) -> None:
    server = HttpPeer()
    secret_body = "internal: db=10.0.0.3 password=hunter2 " * 10

    async def failing(_request: web.Request) -> web.Response:
        return web.Response(status=500, text=secret_body)

    server.route("POST", "/push/{id}", failing)
    await server.start()
    try:
        sender = WebPushSender(
            vapid_key, "mailto:ops@example.com", timeout=5, allow_private_targets=True
        )
        with pytest.raises(TemporaryDeliveryError) as caught:
            await sender.send(Browser(f"{server.base_url}/push/1").subscription(), PAYLOAD)
    finally:
        await server.stop()
    assert caught.value.reason == "HTTP 500 from the push service"
