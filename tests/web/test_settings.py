"""/settings: profile, API tokens, the Web Push subscription endpoint."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from meetbook.app import create_app
from meetbook.migrate import upgrade_async
from meetbook.models import Device

from .conftest import World, sign_in, sqlite_settings


async def test_save_name_and_timezone(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person("Ana Lima", None)
    csrf = await sign_in(client, ana)
    page = await client.get("/meetings")
    assert "Your timezone is not set" in page.text
    response = await client.post(
        "/settings/profile",
        data={"csrf_token": csrf, "name": "Ana M. Lima", "timezone": "Asia/Tokyo"},
    )
    assert response.status_code == 303
    settings = await client.get("/settings")
    assert "Saved. Times are now shown in Asia/Tokyo (UTC+09:00)." in settings.text
    assert 'value="Ana M. Lima"' in settings.text
    assert '<option value="Asia/Tokyo" selected>' in settings.text
    assert "Your timezone is not set" not in (await client.get("/meetings")).text


async def test_a_bad_timezone_is_shown_next_to_the_picker(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    response = await client.post(
        "/settings/profile", data={"csrf_token": csrf, "name": "", "timezone": "Mars/Olympus"}
    )
    assert response.status_code == 400
    assert re.search(r'id="timezone-error">Timezone must be a valid IANA', response.text)
    assert 'id="name-error">Enter your name.' in response.text


async def test_a_new_token_is_shown_once_and_can_be_revoked(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    response = await client.post(
        "/settings/tokens", data={"csrf_token": csrf, "name": "Calendar sync"}
    )
    # Shown in the POST's own answer (not carried in a flash cookie through a redirect).
    assert response.status_code == 200
    token = re.search(r'id="new-token" type="text" value="(mb_[^"]+)"', response.text)
    assert token, "the new token is shown"
    assert "Calendar sync" in response.text
    assert token.group(1) not in response.headers.get("set-cookie", "")
    again = await client.get("/settings")
    assert token.group(1) not in again.text

    me = await client.get("/api/v3/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 200

    token_id = re.search(
        r'action="/settings/tokens/(\d+)/revoke"[^<]*<input[^>]*>\s*'
        r'<button[^>]*>Revoke<span class="visually-hidden"> Calendar sync',
        again.text,
    )
    assert token_id
    revoked = await client.post(
        f"/settings/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf}
    )
    assert revoked.status_code == 303
    me = await client.get("/api/v3/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 401


async def test_push_subscription_needs_the_csrf_header(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, await world.person())
    response = await client.post("/settings/push-subscription", json=_subscription())
    assert response.status_code == 403


# A browser's subscription keys: a real P-256 public point and a 16-byte secret.
_BROWSER_KEY = (
    base64.urlsafe_b64encode(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    .decode()
    .rstrip("=")
)


def _subscription(endpoint: str = "https://push.example.test/send/abc") -> dict[str, object]:
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": _BROWSER_KEY, "auth": "c2VjcmV0LWF1dGgtMTZieQ"},
    }


@pytest.fixture
def vapid_pem(tmp_path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "vapid.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


async def test_push_opt_in_registers_the_browser(tmp_path: Path, vapid_pem: Path) -> None:
    settings = sqlite_settings(
        tmp_path,
        vapid_private_key=vapid_pem,
        vapid_subject="mailto:ops@example.com",
        allow_private_targets=True,  # push.example.test never resolves
    )
    await upgrade_async(settings.database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        world = World(app)
        ana = await world.person()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            csrf = await sign_in(http, ana)
            page = await http.get("/settings")
            key = re.search(r'data-vapid-key="([A-Za-z0-9_-]+)"', page.text)
            assert key and len(key.group(1)) == 87  # 65 bytes, base64url without padding
            bad = await http.post(
                "/settings/push-subscription",
                json=_subscription("javascript:alert(1)"),
                headers={"X-CSRF-Token": csrf},
            )
            assert bad.status_code == 400
            response = await http.post(
                "/settings/push-subscription", json=_subscription(), headers={"X-CSRF-Token": csrf}
            )
            assert response.status_code == 201
            again = await http.post(
                "/settings/push-subscription", json=_subscription(), headers={"X-CSRF-Token": csrf}
            )
            assert again.json() == response.json()
        async with app.state.sessionmaker() as session:
            devices = (await session.scalars(select(Device))).all()
    assert [(d.user_id, d.platform, d.token) for d in devices] == [
        (ana.id, "webpush", "https://push.example.test/send/abc")
    ]
    assert devices[0].subscription == {
        "endpoint": "https://push.example.test/send/abc",
        "keys": {"p256dh": _BROWSER_KEY, "auth": "c2VjcmV0LWF1dGgtMTZieQ"},
    }


async def test_push_opt_in_refuses_endpoints_inside_the_network(
    tmp_path: Path, vapid_pem: Path
) -> None:
    # MEETBOOK_ALLOW_PRIVATE_TARGETS is off (the default): the same guard as the API's.
    settings = sqlite_settings(
        tmp_path, vapid_private_key=vapid_pem, vapid_subject="mailto:ops@example.com"
    )
    await upgrade_async(settings.database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ana = await World(app).person()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            csrf = await sign_in(http, ana)
            answers = [
                await http.post(
                    "/settings/push-subscription",
                    json=_subscription(endpoint),
                    headers={"X-CSRF-Token": csrf},
                )
                for endpoint in (
                    "https://169.254.169.254/latest/meta-data/",
                    "http://127.0.0.1:8080/push",
                    "https://localhost/push",
                )
            ]
        async with app.state.sessionmaker() as session:
            devices = (await session.scalars(select(Device))).all()
    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert "cloud metadata address" in answers[0].json()["message"]
    assert all(answer.json()["details"][0]["field"] == "endpoint" for answer in answers)
    assert devices == []


async def test_without_vapid_there_is_no_push_opt_in(
    client: httpx.AsyncClient, world: World
) -> None:
    csrf = await sign_in(client, await world.person())
    page = await client.get("/settings")
    assert "data-push" not in page.text
    response = await client.post(
        "/settings/push-subscription", json=_subscription(), headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 404
