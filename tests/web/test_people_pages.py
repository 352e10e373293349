"""Team pages, invites, sign-up, forgot password and password change (CONTRACT §3)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from meetbook.accounts import service as accounts
from meetbook.auth.links import link_token
from meetbook.models import PasswordReset, TeamInvite, User
from tests.web.conftest import PASSWORD, SECRET_KEY, Person, World, csrf_of, sign_in

NEW_PASSWORD = "amber-glacier-lantern-47"


async def _admin_team(app, world: World, *members: Person, name: str = "Design") -> int:
    team_id = await world.team(*members, name=name)
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, members[0].id, "admin")
    return team_id


async def _invite_token(app, email: str) -> str:
    async with app.state.sessionmaker() as session:
        invite = await session.scalar(select(TeamInvite).where(TeamInvite.email == email))
    assert invite is not None
    return link_token(SECRET_KEY, "invite", invite.id, invite.salt)


async def test_team_page_shows_members_zone_and_local_time(app, client, world: World) -> None:
    ana, ben = await world.person("Ana Lima"), await world.person("Ben Carter", "America/New_York")
    team_id = await _admin_team(app, world, ana, ben)
    await sign_in(client, ben)
    page = await client.get(f"/teams/{team_id}")
    assert page.status_code == 200
    assert (
        "Ana Lima" in page.text and "America/New_York" in page.text and "Europe/Lisbon" in page.text
    )
    assert "now " in page.text
    assert "Invite people" not in page.text and ana.email not in page.text  # not an admin
    outsider = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    carl = await world.person("Carl")
    await world.team(carl, name="Other")
    await sign_in(outsider, carl)
    assert (
        await outsider.get(f"/teams/{team_id}", headers={"Accept": "text/html"})
    ).status_code == 404


async def test_admin_invites_and_withdraws_from_the_page(app, client, world: World) -> None:
    ana = await world.person()
    team_id = await _admin_team(app, world, ana)
    csrf = await sign_in(client, ana, f"/teams/{team_id}")
    sent = await client.post(
        f"/teams/{team_id}/invites",
        data={"csrf_token": csrf, "email": "neo@example.com", "role": "member"},
    )
    assert sent.status_code == 303
    page = await client.get(f"/teams/{team_id}")
    assert "neo@example.com" in page.text and "Invited neo@example.com" in page.text
    bad = await client.post(
        f"/teams/{team_id}/invites", data={"csrf_token": csrf, "email": "nope", "role": "member"}
    )
    assert bad.status_code == 400 and "email must be an address" in bad.text
    invite_id = re.search(r"/invites/(\d+)/revoke", page.text).group(1)
    gone = await client.post(
        f"/teams/{team_id}/invites/{invite_id}/revoke", data={"csrf_token": csrf}
    )
    assert gone.status_code == 303
    assert "neo@example.com" not in (await client.get(f"/teams/{team_id}")).text


async def test_sign_up_from_an_invite_creates_the_account_in_the_team(
    app, client, world: World
) -> None:
    ana = await world.person()
    team_id = await _admin_team(app, world, ana)
    csrf = await sign_in(client, ana)
    email = f"new-{team_id}@example.com"
    await client.post(f"/teams/{team_id}/invites", data={"csrf_token": csrf, "email": email})
    token = await _invite_token(app, email)
    visitor = httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", headers={"Accept": "text/html"}
    )
    form = await visitor.get(f"/invite/{token}")
    assert form.status_code == 200 and "Create account and join" in form.text
    assert "zone-guess.js" in form.text
    fields = {"csrf_token": csrf_of(form.text), "name": "Nia New", "timezone": "Asia/Tokyo"}
    weak = await visitor.post(f"/invite/{token}", data={**fields, "password": "password1"})
    assert weak.status_code == 400 and "10 characters" in weak.text
    done = await visitor.post(f"/invite/{token}", data={**fields, "password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == f"/teams/{team_id}"
    page = await visitor.get(f"/teams/{team_id}")
    assert "Nia New" in page.text and "Asia/Tokyo" in page.text
    again = await httpx.AsyncClient(transport=client._transport, base_url="http://testserver").get(
        f"/invite/{token}"
    )
    assert again.status_code == 404 and "already been used" in again.text


async def test_an_existing_account_joins_only_when_signed_in_as_itself(
    app, client, world: World
) -> None:
    ana, ben = await world.person("Ana"), await world.person("Ben")
    team_id = await _admin_team(app, world, ana, name="Ops")
    csrf = await sign_in(client, ana)
    await client.post(f"/teams/{team_id}/invites", data={"csrf_token": csrf, "email": ben.email})
    token = await _invite_token(app, ben.email)
    # Ana, signed in, is not the invitee.
    page = await client.get(f"/invite/{token}")
    assert "you are signed in as" in page.text
    refused = await client.post(f"/invite/{token}", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 403  # the sign-up form's token does not fit; nothing joined
    visitor = httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", headers={"Accept": "text/html"}
    )
    anonymous = await visitor.get(f"/invite/{token}")
    assert "Sign in to join" in anonymous.text
    ben_csrf = await sign_in(visitor, ben, f"/invite/{token}")
    joined = await visitor.post(f"/invite/{token}", data={"csrf_token": ben_csrf})
    assert joined.status_code == 303
    assert "Ben" in (await visitor.get(f"/teams/{team_id}")).text


async def test_forgot_password_then_reset_from_the_link(app, client, world: World) -> None:
    pat = await world.person("Pat")
    form = await client.get("/forgot-password")
    assert form.status_code == 200
    answers = []
    for email in ("nobody@example.com", pat.email):
        page = await client.post(
            "/forgot-password", data={"csrf_token": csrf_of(form.text), "email": email}
        )
        answers.append(page.text.replace(email, "EMAIL"))
    assert answers[0] == answers[1] and "on its way" in answers[0]
    async with app.state.sessionmaker() as session:
        reset = await session.scalar(select(PasswordReset).where(PasswordReset.user_id == pat.id))
    token = link_token(SECRET_KEY, "password-reset", reset.id, reset.salt)
    page = await client.get(f"/password-reset/{token}")
    assert page.status_code == 200
    done = await client.post(
        f"/password-reset/{token}",
        data={"csrf_token": csrf_of(page.text), "password": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    login = await client.get("/login")
    signed = await client.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": pat.email, "password": NEW_PASSWORD},
    )
    assert signed.status_code == 303
    used = await client.get(f"/password-reset/{token}")
    assert used.status_code == 404 and "already been used" in used.text


async def test_login_page_links_to_forgot_password(client) -> None:
    page = await client.get("/login")
    assert 'href="/forgot-password"' in page.text


async def test_password_change_from_settings(app, client, world: World) -> None:
    pat = await world.person("Pat")
    csrf = await sign_in(client, pat, "/settings")
    page = await client.get("/settings")
    assert 'action="/settings/password"' in page.text
    wrong = await client.post(
        "/settings/password",
        data={"csrf_token": csrf, "current_password": "nope", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and "current_password is wrong" in wrong.text
    done = await client.post(
        "/settings/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 303
    assert (await client.get("/settings")).status_code == 200  # this browser stays signed in


async def test_roles_and_removal_from_the_team_page(app, client, world: World) -> None:
    ana, ben = await world.person("Ana"), await world.person("Ben")
    team_id = await _admin_team(app, world, ana, ben)
    csrf = await sign_in(client, ana)
    promoted = await client.post(
        f"/teams/{team_id}/members/{ben.id}/role", data={"csrf_token": csrf, "role": "admin"}
    )
    assert promoted.status_code == 303
    assert "Ben is now an admin" in (await client.get(f"/teams/{team_id}")).text
    removed = await client.post(
        f"/teams/{team_id}/members/{ben.id}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    page = await client.get(f"/teams/{team_id}")
    assert "Removed from the team" in page.text and ben.email not in page.text


async def test_an_instance_admin_creates_a_team_from_the_page(app, client, world: World) -> None:
    ida = await world.person("Ida")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == ida.id).values(is_admin=True))
    csrf = await sign_in(client, ida, "/teams")
    assert "Create a team" in (await client.get("/teams")).text
    made = await client.post("/teams", data={"csrf_token": csrf, "name": "Research"})
    assert made.status_code == 303
    page = await client.get(made.headers["location"])
    assert "Research" in page.text and "Invite people" in page.text
