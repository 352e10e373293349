"""Devices, the VAPID key, a meeting's notifications and the dev mailbox, over HTTP."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from meetbook.app import create_app
from meetbook.models import DevEmail, Device, Notification
from meetbook.notifications.email import render_email
from meetbook.notifications.mailbox import DevMailbox
from tests.conftest import MovableClock, World, create_meeting, future, settings_for
from tests.notifications.factories import BASE_URL, DOMAIN, MAIL_FROM, make_notice


@asynccontextmanager
async def app_with(
    database_url: str, tmp_path: Path, clock: MovableClock, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the test database, with extra settings, and a client for it."""
    application = create_app(settings_for(database_url, tmp_path, **settings), clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as http:
            yield http


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def p256_point() -> bytes:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


P256DH = b64url(p256_point())
AUTH = b64url(os.urandom(16))


def webpush_body(
    endpoint: str = "https://push.example.test/send/abc", **keys: Any
) -> dict[str, Any]:
    return {
        "platform": "webpush",
        "subscription": {
            "endpoint": endpoint,
            "expirationTime": None,  # browsers send it; it is ignored
            "keys": {"p256dh": P256DH, "auth": AUTH, **keys},
        },
    }


async def register(client: httpx.AsyncClient, who: Any, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v3/devices", json=body, headers=who.auth)


async def stored_devices(sessionmaker: Any) -> list[Device]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Device).order_by(Device.id)))


# Devices ---------------------------------------------------------------------------------


async def test_fcm_token_registers(client, world: World, sessionmaker) -> None:
    alice = await world.person()
    response = await register(client, alice, {"platform": "fcm", "token": "fcm:token-1"})
    assert response.status_code == 201
    [device] = await stored_devices(sessionmaker)
    assert response.json() == {"id": device.id}
    assert (device.user_id, device.platform, device.token) == (alice.id, "fcm", "fcm:token-1")


async def test_webpush_subscription_registers_under_its_endpoint(
    client, world: World, sessionmaker
) -> None:
    alice = await world.person()
    response = await register(client, alice, webpush_body())
    assert response.status_code == 201
    [device] = await stored_devices(sessionmaker)
    assert response.json() == {"id": device.id}
    assert (device.platform, device.token) == ("webpush", "https://push.example.test/send/abc")
    assert device.subscription == {
        "endpoint": "https://push.example.test/send/abc",
        "keys": {"p256dh": P256DH, "auth": AUTH},
    }


async def test_registering_the_same_token_again_returns_the_same_device(
    client, world: World, sessionmaker
) -> None:
    alice = await world.person()
    first = await register(client, alice, {"platform": "fcm", "token": "same"})
    again = await register(client, alice, {"platform": "fcm", "token": "same"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert len(await stored_devices(sessionmaker)) == 1


async def test_resubscribing_updates_the_webpush_keys(client, world: World, sessionmaker) -> None:
    alice = await world.person()
    first = await register(client, alice, webpush_body())
    new_auth = b64url(os.urandom(16))
    again = await register(client, alice, webpush_body(auth=new_auth))
    assert first.json() == again.json()
    [device] = await stored_devices(sessionmaker)
    assert device.subscription is not None
    assert device.subscription["keys"]["auth"] == new_auth


async def test_a_token_registered_by_someone_else_moves_to_the_new_user(
    client, world: World, sessionmaker
) -> None:
    alice, bob = await world.person(), await world.person()
    first = await register(client, alice, {"platform": "fcm", "token": "shared-phone"})
    second = await register(client, bob, {"platform": "fcm", "token": "shared-phone"})
    device_id = first.json()["id"]
    assert second.json() == {"id": device_id}
    [device] = await stored_devices(sessionmaker)
    assert device.user_id == bob.id
    gone = await client.delete(f"/api/v3/devices/{device_id}", headers=alice.auth)
    assert gone.status_code == 404


async def test_the_same_token_on_two_platforms_is_two_devices(client, world: World) -> None:
    alice = await world.person()
    fcm = await register(client, alice, {"platform": "fcm", "token": "https://push.example.test/x"})
    web = await register(client, alice, webpush_body("https://push.example.test/x"))
    assert fcm.json()["id"] != web.json()["id"]


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8123/push", "http://localhost/p", "http://[::1]:9/p"]
)
async def test_plain_http_endpoints_are_allowed_on_this_machine(
    client, world: World, endpoint: str
) -> None:
    alice = await world.person()
    response = await register(client, alice, webpush_body(endpoint))
    assert response.status_code == 201, response.json()


async def test_the_longest_token_fits_the_database(client, world: World) -> None:
    alice = await world.person()
    token = "t" * 2048
    response = await register(client, alice, {"platform": "fcm", "token": token})
    assert response.status_code == 201, response.json()
    long_endpoint = "https://push.example.test/" + "e" * (2048 - 26)
    response = await register(client, alice, webpush_body(long_endpoint))
    assert response.status_code == 201, response.json()


NOT_ON_CURVE = b64url(b"\x04" + b"\x00" * 64)
BAD_BODIES = [
    ({}, "platform"),
    ({"platform": "apns", "token": "x"}, "platform"),
    ({"platform": 1, "token": "x"}, "platform"),
    ({"platform": "fcm"}, "token"),
    ({"platform": "fcm", "token": ""}, "token"),
    ({"platform": "fcm", "token": 12345}, "token"),
    ({"platform": "fcm", "token": "has space"}, "token"),
    ({"platform": "fcm", "token": "line\nbreak"}, "token"),
    ({"platform": "fcm", "token": "t" * 2049}, "token"),
    ({"platform": "fcm", "token": "ok", "subscripton": {}}, "subscripton"),
    ({"platform": "webpush"}, "subscription"),
    ({"platform": "webpush", "subscription": "https://push.example.test"}, "subscription"),
    # Plain http is refused too, when private targets are not allowed: tests/security/test_outbound.py
    (webpush_body("ftp://push.example.test/send"), "subscription.endpoint"),
    (webpush_body("/relative/path"), "subscription.endpoint"),
    (webpush_body("https://"), "subscription.endpoint"),
    (webpush_body("https://user:pw@push.example.test/"), "subscription.endpoint"),
    (webpush_body("https://push.example.test:99999/"), "subscription.endpoint"),
    (webpush_body("https://push.example.test/a b"), "subscription.endpoint"),
    (webpush_body("https://push.example.test/" + "e" * 2030), "subscription.endpoint"),
    (webpush_body(p256dh="not base64!"), "subscription.keys.p256dh"),
    (webpush_body(p256dh=b64url(p256_point()[:64])), "subscription.keys.p256dh"),
    (webpush_body(p256dh=b64url(b"\x02" + p256_point()[1:])), "subscription.keys.p256dh"),
    (webpush_body(p256dh=NOT_ON_CURVE), "subscription.keys.p256dh"),
    (webpush_body(p256dh="A" * 500), "subscription.keys.p256dh"),
    (webpush_body(auth=b64url(os.urandom(15))), "subscription.keys.auth"),
    (webpush_body(auth=b64url(os.urandom(32))), "subscription.keys.auth"),
    (webpush_body(auth=None), "subscription.keys.auth"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[f for _, f in BAD_BODIES])
async def test_invalid_devices_get_400_naming_the_field(
    client, world: World, sessionmaker, body: dict[str, Any], field: str
) -> None:
    alice = await world.person()
    response = await register(client, alice, body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == 400
    assert field in error["message"]
    assert field in [detail["field"] for detail in error["details"]]
    assert await stored_devices(sessionmaker) == []


async def test_a_device_body_must_be_a_json_object(client, world: World) -> None:
    alice = await world.person()
    text = await client.post(
        "/api/v3/devices", content="token", headers={**alice.auth, "Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    array = await client.post("/api/v3/devices", json=["fcm"], headers=alice.auth)
    assert array.status_code == 400 and "JSON object" in array.json()["message"]


async def test_device_routes_need_a_token(client) -> None:
    register_ = await client.post("/api/v3/devices", json={"platform": "fcm", "token": "x"})
    delete = await client.delete("/api/v3/devices/1")
    assert (register_.status_code, delete.status_code) == (401, 401)
    assert register_.headers["WWW-Authenticate"] == "Bearer"


async def test_the_owner_deletes_a_device(client, world: World, sessionmaker) -> None:
    alice = await world.person()
    device_id = (await register(client, alice, {"platform": "fcm", "token": "x"})).json()["id"]
    response = await client.delete(f"/api/v3/devices/{device_id}", headers=alice.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert await stored_devices(sessionmaker) == []
    again = await client.delete(f"/api/v3/devices/{device_id}", headers=alice.auth)
    assert again.status_code == 404


async def test_deleting_someone_elses_device_is_404_and_keeps_it(
    client, world: World, sessionmaker
) -> None:
    alice, mallory = await world.person(), await world.person()
    device_id = (await register(client, alice, {"platform": "fcm", "token": "x"})).json()["id"]
    response = await client.delete(f"/api/v3/devices/{device_id}", headers=mallory.auth)
    assert response.status_code == 404
    assert response.json()["error"] == 404
    assert [d.id for d in await stored_devices(sessionmaker)] == [device_id]


@pytest.mark.parametrize("device_id", ["0", "abc", str(2**63)])
async def test_a_malformed_device_id_is_400(client, world: World, device_id: str) -> None:
    alice = await world.person()
    response = await client.delete(f"/api/v3/devices/{device_id}", headers=alice.auth)
    assert response.status_code == 400
    assert response.json()["error"] == 400


# VAPID -----------------------------------------------------------------------------------


async def test_vapid_key_is_404_when_web_push_is_not_configured(client, world: World) -> None:
    alice = await world.person()
    response = await client.get("/api/v3/push/vapid-public-key", headers=alice.auth)
    assert response.status_code == 404
    assert response.json() == {
        "error": 404,
        "message": "Web Push is not configured on this server.",
    }


async def test_vapid_key_is_the_configured_public_key(
    database_url: str, tmp_path: Path, clock: MovableClock, world: World
) -> None:
    alice = await world.person()
    private = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "vapid.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    expected = b64url(
        private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    settings = {"vapid_private_key": pem, "vapid_subject": "mailto:a@b.c"}
    async with app_with(database_url, tmp_path, clock, **settings) as http:
        response = await http.get("/api/v3/push/vapid-public-key", headers=alice.auth)
        anonymous = await http.get("/api/v3/push/vapid-public-key")
    assert response.status_code == 200
    assert response.json() == {"public_key": expected}
    assert len(expected) == 87
    assert anonymous.status_code == 401


# A meeting's notifications ---------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_notifications_list_the_outbox_rows_of_the_meeting(
    client, world: World, clock: MovableClock, sessionmaker
) -> None:
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    await register(client, recipient, {"platform": "fcm", "token": "recipient-phone"})
    await register(client, requester, webpush_body())
    created = await create_meeting(client, requester, recipient, team_id, future(clock))
    meeting_id = created.json()["id"]
    confirmed = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    assert confirmed.status_code == 200

    response = await client.get(
        f"/api/v3/meeting/{meeting_id}/notifications", headers=requester.auth
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(n["event"], n["user_id"], n["channel"]) for n in data] == [
        ("meeting-created", recipient.id, "email"),
        ("meeting-created", recipient.id, "fcm"),
        ("meeting-confirmed", requester.id, "email"),
        ("meeting-confirmed", requester.id, "webpush"),
        ("meeting-confirmed", recipient.id, "email"),
    ]
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(Notification)
                # The timed notices (reminders, the nudge) are not due yet: not listed.
                .where(Notification.meeting_id == meeting_id, Notification.schedule_key.is_(None))
                .order_by(Notification.id)
            )
        )
    assert data == [
        {
            "id": row.id,
            "event": row.event,
            "user_id": row.user_id,
            "channel": row.channel,
            "status": "pending",
            "attempts": 0,
            "last_error": None,
            "sent_at": None,
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]
    as_recipient = await client.get(
        f"/api/v3/meeting/{meeting_id}/notifications", headers=recipient.auth
    )
    assert as_recipient.json() == response.json()


async def test_notifications_show_delivery_results(
    client, world: World, clock: MovableClock, sessionmaker
) -> None:
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    meeting_id = (
        await create_meeting(client, requester, recipient, team_id, future(clock))
    ).json()["id"]
    sent_at = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.meeting_id == meeting_id, Notification.schedule_key.is_(None))
            .values(status="failed", attempts=8, last_error="gave up", sent_at=sent_at)
        )
    response = await client.get(
        f"/api/v3/meeting/{meeting_id}/notifications", headers=recipient.auth
    )
    [item] = response.json()["data"]
    assert (item["status"], item["attempts"], item["last_error"]) == ("failed", 8, "gave up")
    assert item["sent_at"] == "2030-01-02T03:04:05Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["created_at"])


async def test_notifications_are_404_for_anyone_but_the_participants(
    client, world: World, clock: MovableClock
) -> None:
    requester, recipient = await world.person(), await world.person()
    teammate, outsider = await world.person(), await world.person()
    team_id = await world.team(requester, recipient, teammate)
    meeting_id = (
        await create_meeting(client, requester, recipient, team_id, future(clock))
    ).json()["id"]
    path = f"/api/v3/meeting/{meeting_id}/notifications"
    for stranger in (teammate, outsider):
        response = await client.get(path, headers=stranger.auth)
        assert response.status_code == 404
        assert response.json()["error"] == 404
    missing = await client.get(
        f"/api/v3/meeting/{meeting_id + 1000}/notifications", headers=requester.auth
    )
    assert missing.status_code == 404
    assert (await client.get(path)).status_code == 401


# The dev mailbox ---------------------------------------------------------------------------


MAILBOX_PASSWORD = "mailbox-reader-passphrase"


@pytest_asyncio.fixture
async def viewer(client: httpx.AsyncClient, world: World) -> httpx.AsyncClient:
    """`client`, signed in on the web page: the mailbox is for signed-in people only."""
    person = await world.person(password=MAILBOX_PASSWORD)
    login = await client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert csrf
    response = await client.post(
        "/login",
        data={"email": person.email, "password": MAILBOX_PASSWORD, "csrf_token": csrf.group(1)},
    )
    assert response.status_code == 303, response.text
    return client


def rendered(notification_id: int, **overrides: Any) -> EmailMessage:
    notice = make_notice("meeting-created", notification_id=notification_id, **overrides)
    return render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)


async def keep(sessionmaker: Any, *messages: EmailMessage) -> list[int]:
    """Insert emails into `dev_emails` as the dev mailbox keeps them; returns their ids."""
    rows = [
        DevEmail(
            message_id=str(message["Message-ID"]),
            to_address=str(message["To"]),
            subject=str(message["Subject"]),
            raw=message.as_string(),
        )
        for message in messages
    ]
    async with sessionmaker() as session, session.begin():
        session.add_all(rows)
    return [row.id for row in rows]


async def test_mailbox_shows_kept_emails_newest_first(viewer, sessionmaker) -> None:
    ids = await keep(
        sessionmaker,
        rendered(1, to_email="first@example.test"),
        rendered(2, to_email="second@example.test"),
        rendered(3, to_email="third@example.test"),
    )
    response = await viewer.get("/dev/mailbox")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    positions = [page.index(f'id="email-{email_id}"') for email_id in ids]
    assert positions == sorted(positions, reverse=True)
    assert page.index("third@example.test") < page.index("first@example.test")
    assert "You have received new meeting request!" in page
    assert "&lt;notification-3.meeting-123@mb-7q4k-9x2p.meet.example.test&gt;" in page
    assert "Alice Requester" in page
    assert page.count("<pre>") == 3  # the text parts
    # The HTML parts, each from its own URL into a frame sandboxed without scripts.
    frames = re.findall(r'<iframe sandbox="([^"]*)" src="([^"]+)"', page)
    assert [src for _, src in frames] == [f"/dev/mailbox/{i}.html" for i in reversed(ids)]
    assert all("allow-scripts" not in sandbox for sandbox, _ in frames)
    assert f'href="/dev/mailbox/{ids[0]}.eml"' in page
    # Nothing the page's CSP would refuse: no inline script or style of its own.
    assert "<script" not in page
    assert "<style" not in page
    assert not re.search(r'<[a-z]+(?:\s+[a-z-]+(?:="[^"]*")?)*\s+style\b', page)


async def test_mailbox_escapes_what_the_emails_contain(viewer, sessionmaker) -> None:
    message = EmailMessage()
    message["Subject"] = "<script>alert('subject')</script>"
    message["From"] = MAIL_FROM
    message["To"] = "victim@example.test"
    message["Message-ID"] = "<evil@example.test>"
    message.set_content("<script>alert('text')</script>")
    message.add_alternative(
        '<p onclick="x()">Hi</p><script>alert(\'html\')</script>"><img src=x onerror=y>',
        subtype="html",
    )
    await keep(sessionmaker, message)
    page = (await viewer.get("/dev/mailbox")).text
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#39;text&#39;)&lt;/script&gt;" in page
    assert "<img" not in page and "onclick" not in page
    # The HTML part is served as it is, under a CSP and sandbox that forbid running it.
    [email_id] = re.findall(r'src="/dev/mailbox/(\d+).html"', page)
    html = await viewer.get(f"/dev/mailbox/{email_id}.html")
    assert "<script>alert('html')</script>" in html.text
    csp = html.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "sandbox" in csp and "allow-scripts" not in csp


async def test_mailbox_pages_through_older_emails(viewer, sessionmaker) -> None:
    ids = await keep(sessionmaker, rendered(1), rendered(2), rendered(3))
    first = (await viewer.get("/dev/mailbox", params={"limit": 2})).text
    assert f'id="email-{ids[2]}"' in first and f'id="email-{ids[1]}"' in first
    assert f'id="email-{ids[0]}"' not in first
    [older] = re.findall(r'href="(/dev/mailbox\?before=[^"]+)"', first)
    second = (await viewer.get(older.replace("&amp;", "&"))).text
    assert f'id="email-{ids[0]}"' in second and f'id="email-{ids[1]}"' not in second
    assert "before=" not in second  # no older page
    assert 'href="/dev/mailbox"' in second  # back to the newest


async def test_an_empty_mailbox_says_so(viewer) -> None:
    response = await viewer.get("/dev/mailbox")
    assert response.status_code == 200
    assert "No emails yet." in response.text


async def test_mailbox_limit_is_capped_at_100(viewer) -> None:
    response = await viewer.get("/dev/mailbox", params={"limit": 101})
    assert response.status_code == 400


async def test_eml_download_is_the_raw_message(viewer, sessionmaker) -> None:
    message = rendered(7)
    [email_id] = await keep(sessionmaker, message)
    response = await viewer.get(f"/dev/mailbox/{email_id}.eml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "message/rfc822"
    assert "attachment" in response.headers["content-disposition"]
    assert response.text == message.as_string()
    missing = await viewer.get(f"/dev/mailbox/{email_id + 1}.eml")
    assert missing.status_code == 404


async def test_dev_mailbox_sender_feeds_the_page(viewer, sessionmaker) -> None:
    mailbox = DevMailbox(sessionmaker)
    message = rendered(11)
    await mailbox.send(message)
    await mailbox.send(message)  # a redelivery keeps one copy
    async with sessionmaker() as session:
        [row] = list(await session.scalars(select(DevEmail)))
    assert row.message_id == message["Message-ID"]
    page = (await viewer.get("/dev/mailbox")).text
    assert f'id="email-{row.id}"' in page


async def test_mailbox_is_404_when_smtp_is_configured(
    database_url: str, tmp_path: Path, clock: MovableClock, sessionmaker
) -> None:
    [email_id] = await keep(sessionmaker, rendered(1))
    async with app_with(database_url, tmp_path, clock, smtp_host="smtp.example.test") as http:
        page = await http.get("/dev/mailbox")
        raw = await http.get(f"/dev/mailbox/{email_id}.eml")
    assert (page.status_code, raw.status_code) == (404, 404)
    assert page.json()["error"] == 404


@pytest.mark.parametrize(
    "path", ["/dev/mailbox", "/dev/mailbox/{id}.eml", "/dev/mailbox/{id}.html"]
)
async def test_the_mailbox_is_for_signed_in_people_only(client, sessionmaker, path: str) -> None:
    [email_id] = await keep(sessionmaker, rendered(1))
    target = path.format(id=email_id)

    response = await client.get(target)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + target.replace("/", "%2F")
    # Nor does an API token open it: it is a page, for the web session.
    person = await World(sessionmaker).person()
    assert (await client.get(target, headers=person.auth)).status_code == 303


async def test_an_emails_html_is_served_as_email_html(viewer, sessionmaker) -> None:
    [email_id] = await keep(sessionmaker, rendered(5))

    response = await viewer.get(f"/dev/mailbox/{email_id}.html")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    # Inline styles (all of the email's styling), images from data: and https, no scripts.
    assert "style-src 'unsafe-inline'" in csp and "img-src data: https:" in csp
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp and response.headers["x-frame-options"] == "SAMEORIGIN"
    assert 'style="' in response.text and "You have received new meeting request!" in response.text
    assert '<base target="_blank">' in response.text  # links open a new tab, as in a mail client
    missing = await viewer.get(f"/dev/mailbox/{email_id + 1}.html")
    assert missing.status_code == 404
