"""People and teams (CONTRACT §1.8): roles, removal, passwords, resets, invites, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from meetbook.accounts import people
from meetbook.models import MeetingHistory, Notification, PasswordReset, TeamInvite
from tests.accounts.people_helpers import (
    STRONG,
    STRONGER,
    link_in,
    make_instance_admin,
    set_role,
    smtp_worker,
)
from tests.conftest import World, create_meeting, future
from tests.notifications.peers import Inbox, LocalSmtpServer


@pytest.fixture
def smtp():
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


async def _token(client, email: str, password: str) -> int:
    response = await client.post("/api/v3/auth/token", json={"email": email, "password": password})
    return response.status_code


# Teams and roles ---------------------------------------------------------------------------


async def test_an_instance_admin_creates_a_team_and_becomes_its_admin(
    client, world: World, sessionmaker
) -> None:
    ida = await world.person("Ida")
    await make_instance_admin(sessionmaker, ida.id)
    created = await client.post("/api/v3/teams", json={"name": " Design "}, headers=ida.auth)
    assert created.status_code == 201
    assert created.json()["name"] == "Design" and created.json()["role"] == "admin"
    teams = (await client.get("/api/v3/teams", headers=ida.auth)).json()["data"]
    assert teams == [{"id": created.json()["id"], "name": "Design", "role": "admin"}]
    bad = await client.post("/api/v3/teams", json={"name": ""}, headers=ida.auth)
    assert bad.status_code == 400 and bad.json()["error"] == 400


async def test_a_team_keeps_at_least_one_admin(client, world: World, sessionmaker) -> None:
    admin, member = await world.person(), await world.person()
    team_id = await world.team(admin, member)
    await set_role(sessionmaker, team_id, admin.id, "admin")
    demote = await client.patch(
        f"/api/v3/teams/{team_id}/members/{admin.id}", json={"role": "member"}, headers=admin.auth
    )
    assert demote.status_code == 409 and "at least one admin" in demote.json()["message"]
    leave = await client.delete(f"/api/v3/teams/{team_id}/members/{admin.id}", headers=admin.auth)
    assert leave.status_code == 409
    promote = await client.patch(
        f"/api/v3/teams/{team_id}/members/{member.id}", json={"role": "admin"}, headers=admin.auth
    )
    assert promote.status_code == 200 and promote.json()["role"] == "admin"
    leave = await client.delete(f"/api/v3/teams/{team_id}/members/{admin.id}", headers=admin.auth)
    assert leave.status_code == 204
    bad_role = await client.patch(
        f"/api/v3/teams/{team_id}/members/{member.id}", json={"role": "owner"}, headers=member.auth
    )
    assert bad_role.status_code == 400
    missing = await client.patch(
        f"/api/v3/teams/{team_id}/members/{admin.id}", json={"role": "admin"}, headers=member.auth
    )
    assert missing.status_code == 404


async def test_removal_cancels_pending_and_future_confirmed_meetings_in_that_team(
    client, world: World, sessionmaker, clock
) -> None:
    admin, leaver, other = (
        await world.person("Ada"),
        await world.person("Leo"),
        await world.person(),
    )
    team_id = await world.team(admin, leaver, other)
    await set_role(sessionmaker, team_id, admin.id, "admin")
    second_team = await world.team(leaver, other, name="Second")
    pending = (await create_meeting(client, admin, leaver, team_id, future(clock, 3))).json()
    confirmed = (await create_meeting(client, leaver, other, team_id, future(clock, 4))).json()
    ok = await client.post(f"/api/v3/meeting/{confirmed['id']}/confirm", headers=other.auth)
    assert ok.status_code == 200
    elsewhere = (await create_meeting(client, other, leaver, second_team, future(clock, 5))).json()

    removed = await client.delete(
        f"/api/v3/teams/{team_id}/members/{leaver.id}", headers=admin.auth
    )
    assert removed.status_code == 204

    for meeting, status in (
        (pending, "cancelled"),
        (confirmed, "cancelled"),
        (elsewhere, "pending"),
    ):
        seen_by = other if meeting is not pending else admin
        got = await client.get(f"/api/v3/meeting/{meeting['id']}", headers=seen_by.auth)
        assert got.json()["status"] == status
    async with sessionmaker() as session:
        history = (
            await session.scalars(
                select(MeetingHistory).where(MeetingHistory.action == "cancelled")
            )
        ).all()
        assert {h.meeting_id for h in history} == {pending["id"], confirmed["id"]}
        assert all(h.actor_id == leaver.id and "removed" in (h.reason or "") for h in history)
        notices = (
            await session.scalars(
                select(Notification).where(Notification.event == "meeting-cancelled")
            )
        ).all()
    # The other participant of each hears of it; the confirmed one also withdraws the
    # leaver's own calendar copy.
    assert {n.user_id for n in notices} >= {admin.id, other.id}


async def test_deactivating_a_user_signs_them_out_everywhere_and_cancels_their_meetings(
    client, world: World, sessionmaker, clock
) -> None:
    leaver = await world.person("Leo", password=STRONG)
    other = await world.person()
    team_id = await world.team(leaver, other)
    meeting = (await create_meeting(client, other, leaver, team_id, future(clock, 3))).json()
    async with sessionmaker() as session, session.begin():
        assert await people.deactivate_user(session, leaver.id, clock.now) == 1
    assert (await client.get("/api/v3/me", headers=leaver.auth)).status_code == 401
    assert await _token(client, leaver.email, STRONG) == 401
    got = await client.get(f"/api/v3/meeting/{meeting['id']}", headers=other.auth)
    assert got.json()["status"] == "cancelled"
    members = await client.get(f"/api/v3/teams/{team_id}/members", headers=other.auth)
    assert leaver.id not in {m["id"] for m in members.json()["data"]}


# Passwords ---------------------------------------------------------------------------------


async def test_password_change_needs_the_current_one_and_a_strong_new_one(
    client, world: World
) -> None:
    pat = await world.person("Pat", password=STRONG)
    url = "/api/v3/me/password"
    wrong = await client.post(
        url, json={"current_password": "nope", "new_password": STRONGER}, headers=pat.auth
    )
    assert wrong.status_code == 400 and "current_password" in wrong.json()["message"]
    weak = await client.post(
        url, json={"current_password": STRONG, "new_password": "password123"}, headers=pat.auth
    )
    assert weak.status_code == 400 and "new_password" in weak.json()["message"]
    short = await client.post(
        url, json={"current_password": STRONG, "new_password": "abc"}, headers=pat.auth
    )
    assert short.status_code == 400 and "10 characters" in short.json()["message"]
    done = await client.post(
        url, json={"current_password": STRONG, "new_password": STRONGER}, headers=pat.auth
    )
    assert done.status_code == 204
    assert await _token(client, pat.email, STRONG) == 401
    assert await _token(client, pat.email, STRONGER) == 201
    # API tokens keep working after a change (only web sessions end).
    assert (await client.get("/api/v3/me", headers=pat.auth)).status_code == 200


async def test_reset_answers_202_for_any_address_and_mails_only_real_accounts(
    app, client, world: World, sessionmaker, smtp
) -> None:
    handler, port = smtp
    pat = await world.person("Pat", password=STRONG)
    for email in ("nobody@example.com", pat.email.upper()):
        response = await client.post("/api/v3/auth/password-reset", json={"email": email})
        assert response.status_code == 202
    bad = await client.post("/api/v3/auth/password-reset", json={"email": 5})
    assert bad.status_code == 400
    await smtp_worker(app, port).drain()
    [message] = handler.messages()
    assert pat.email in message["To"] and "Reset" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    token = link_in(message, "/password-reset/")
    assert token in html
    async with sessionmaker() as session:
        stored = [str(n.context) for n in (await session.scalars(select(Notification))).all()]
        stored += [r.salt for r in (await session.scalars(select(PasswordReset))).all()]
    assert not any(token.split(".", 1)[1] in text for text in stored), "the link is not stored"


async def test_a_reset_link_works_once_and_revokes_every_session_and_token(
    app, client, world: World, smtp
) -> None:
    handler, port = smtp
    pat = await world.person("Pat", password=STRONG)
    await client.post("/api/v3/auth/password-reset", json={"email": pat.email})
    await smtp_worker(app, port).drain()
    token = link_in(handler.messages()[0], "/password-reset/")
    url = "/api/v3/auth/password-reset/complete"
    weak = await client.post(url, json={"token": token, "password": "password1"})
    assert weak.status_code == 400
    done = await client.post(url, json={"token": token, "password": STRONGER})
    assert done.status_code == 204
    assert (await client.get("/api/v3/me", headers=pat.auth)).status_code == 401
    assert await _token(client, pat.email, STRONGER) == 201
    again = await client.post(url, json={"token": token, "password": "another-" + STRONGER})
    assert again.status_code == 404 and "already been used" in again.json()["message"]
    forged = await client.post(url, json={"token": token[:-2] + "xx", "password": STRONGER})
    assert forged.status_code == 404
    junk = await client.post(url, json={"token": "nothing", "password": STRONGER})
    assert junk.status_code == 404 and junk.json()["error"] == 404


async def test_a_reset_link_expires_after_an_hour(app, client, world: World, smtp, clock) -> None:
    handler, port = smtp
    pat = await world.person("Pat", password=STRONG)
    await client.post("/api/v3/auth/password-reset", json={"email": pat.email})
    await smtp_worker(app, port).drain()
    token = link_in(handler.messages()[0], "/password-reset/")
    clock.advance(hours=1, seconds=1)
    late = await client.post(
        "/api/v3/auth/password-reset/complete", json={"token": token, "password": STRONGER}
    )
    assert late.status_code == 404 and "expired" in late.json()["message"]


# Invites -----------------------------------------------------------------------------------


async def test_invite_is_mailed_listed_and_revocable(
    app, client, world: World, sessionmaker, smtp, clock
) -> None:
    handler, port = smtp
    admin = await world.person("Ada Admin")
    team_id = await world.team(admin, name="Design")
    await set_role(sessionmaker, team_id, admin.id, "admin")
    url = f"/api/v3/teams/{team_id}/invites"
    created = await client.post(
        url, json={"email": "Neo@Example.com", "role": "admin"}, headers=admin.auth
    )
    assert created.status_code == 201
    invite = created.json()
    assert invite["email"] == "neo@example.com" and invite["role"] == "admin"
    assert invite["expires_at"].startswith((clock.now + timedelta(days=7)).date().isoformat())
    listed = (await client.get(url, headers=admin.auth)).json()["data"]
    assert [i["id"] for i in listed] == [invite["id"]]
    await smtp_worker(app, port).drain()
    [message] = handler.messages()
    assert "Design" in message["Subject"] and "neo@example.com" in message["To"]
    text = message.get_body(("plain",)).get_content()
    assert "Ada Admin" in text and "as an admin" in text
    link_in(message, "/invite/")
    revoked = await client.delete(f"{url}/{invite['id']}", headers=admin.auth)
    assert revoked.status_code == 204
    assert (await client.get(url, headers=admin.auth)).json()["data"] == []
    assert (await client.delete(f"{url}/{invite['id']}", headers=admin.auth)).status_code == 404
    member = await world.person()
    await set_role(sessionmaker, team_id, member.id, "member")
    async with sessionmaker() as session:
        emails = {i.email for i in (await session.scalars(select(TeamInvite))).all()}
    assert emails == {"neo@example.com"}
    taken = await client.post(url, json={"email": member.email}, headers=admin.auth)
    assert taken.status_code == 409 and "already a member" in taken.json()["message"]
    invalid = await client.post(url, json={"email": "not-an-address"}, headers=admin.auth)
    assert invalid.status_code == 400


# Tokens and sessions -----------------------------------------------------------------------


async def test_tokens_list_shows_kind_and_expiry_and_revokes_any(client, world: World) -> None:
    pat = await world.person("Pat", password=STRONG)
    made = await client.post(
        "/api/v3/auth/token",
        json={"email": pat.email, "password": STRONG, "name": "ci", "expires_in_days": 30},
        headers={"User-Agent": "curl/8"},
    )
    assert made.status_code == 201
    listed = (await client.get("/api/v3/me/tokens", headers=pat.auth)).json()["data"]
    by_name = {t["name"]: t for t in listed}
    assert set(by_name) == {"ci", "test"}
    assert by_name["ci"]["kind"] == "api" and by_name["ci"]["expires_at"] is not None
    assert by_name["ci"]["user_agent"] == "curl/8" and by_name["test"]["expires_at"] is None
    assert set(by_name["ci"]) == {
        "id",
        "name",
        "kind",
        "created_at",
        "last_used_at",
        "expires_at",
        "user_agent",
    }
    gone = await client.delete(f"/api/v3/me/tokens/{by_name['ci']['id']}", headers=pat.auth)
    assert gone.status_code == 204
    again = await client.delete(f"/api/v3/me/tokens/{by_name['ci']['id']}", headers=pat.auth)
    assert again.status_code == 404
    other = await world.person()
    theirs = await client.delete(f"/api/v3/me/tokens/{by_name['test']['id']}", headers=other.auth)
    assert theirs.status_code == 404
    bad = await client.post(
        "/api/v3/auth/token",
        json={"email": pat.email, "password": STRONG, "expires_in_days": 0},
    )
    assert bad.status_code == 400


def test_sessions_are_named_by_browser_and_system() -> None:
    from meetbook.auth.sessions import describe_browser

    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    edge = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Safari/537.36 Edg/120.0"
    )
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
    )
    assert describe_browser(firefox) == "Firefox on Linux"
    assert describe_browser(edge) == "Edge on Windows"
    assert describe_browser(iphone) == "Safari on iPhone"
    assert describe_browser(None) == "Unknown browser"
