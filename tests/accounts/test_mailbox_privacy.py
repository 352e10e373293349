"""The dev mailbox shows account emails (invites, resets) only to their addressee and to
instance admins: their links act for the reader."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from meetbook.models import DevEmail
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.accounts.people_helpers import STRONG, make_instance_admin, set_role
from tests.conftest import World


async def _signed_in(app, email: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://meetbook.test"
    )
    login = await http.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    done = await http.post("/login", data={"email": email, "password": STRONG, "csrf_token": csrf})
    assert done.status_code == 303, done.text
    return http


async def test_account_emails_are_hidden_from_other_users(
    app, client, world: World, sessionmaker
) -> None:
    admin = await world.person("Ada", password=STRONG)
    bystander = await world.person("Bo", password=STRONG)
    invitee = await world.person("Ivy", password=STRONG)
    team_id = await world.team(admin)
    await set_role(sessionmaker, team_id, admin.id, "admin")
    await make_instance_admin(sessionmaker, admin.id)
    sent = await client.post(
        f"/api/v3/teams/{team_id}/invites", json={"email": invitee.email}, headers=admin.auth
    )
    assert sent.status_code == 201
    await client.post("/api/v3/auth/password-reset", json={"email": bystander.email})
    worker = OutboxWorker(
        sessionmaker,
        Providers(email=DevMailbox(sessionmaker)),
        app.state.settings,
        clock=app.state.clock,
    )
    await worker.drain()
    async with sessionmaker() as session:
        kept = {
            row.restricted_to: row.id for row in (await session.scalars(select(DevEmail))).all()
        }
    assert set(kept) == {invitee.email, bystander.email}
    invite_id = kept[invitee.email]

    for person, sees_invite in ((admin, True), (invitee, True), (bystander, False)):
        http = await _signed_in(app, person.email)
        try:
            page = await http.get("/dev/mailbox")
            assert ("/invite/" in page.text) is sees_invite, person.name
            eml = await http.get(f"/dev/mailbox/{invite_id}.eml")
            assert eml.status_code == (200 if sees_invite else 404)
        finally:
            await http.aclose()
