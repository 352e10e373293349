"""Account emails and the people pages in their reader's language (README "Languages")."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from meetbook.accounts import service as accounts
from meetbook.auth.links import link_token
from meetbook.models import Notification, PasswordReset, TeamInvite, User
from meetbook.notifications.account_email import render_account_email
from tests.web.conftest import SECRET_KEY, Person, World, csrf_of, sign_in


async def _speak(app, person: Person, locale: str) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == person.id).values(locale=locale))


async def _account_email(app, event: str, to_email: str) -> tuple[str, str, str]:
    """The subject, text and HTML of the account email queued for `to_email`."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.scalars(select(Notification).where(Notification.event == event))
        ).all()
    [row] = [r for r in rows if r.context["to_email"] == to_email]
    message = await render_account_email(app.state.sessionmaker, row, app.state.settings)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return str(message["Subject"]), text, html


async def _admin_team(app, world: World, admin: Person, *others: Person) -> int:
    team_id = await world.team(admin, *others, name="Équipe")
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, admin.id, "admin")
    return team_id


async def test_an_invite_to_a_new_address_speaks_the_inviting_admin_s_language(
    app, client, world: World
) -> None:
    ana = await world.person("Ana Admin")
    await _speak(app, ana, "fr")
    team_id = await _admin_team(app, world, ana)
    csrf = await sign_in(client, ana)
    page = await client.post(
        f"/teams/{team_id}/invites",
        data={"csrf_token": csrf, "email": "nouveau@example.com", "role": "admin"},
        follow_redirects=True,
    )
    # The admin's own page and flash are French too.
    assert "Invitations en attente" in page.text
    assert "nouveau@example.com a été invité" in page.text
    subject, text, html = await _account_email(app, "account-invite", "nouveau@example.com")
    assert subject == "Vous êtes invité à rejoindre Équipe sur meetbook"
    assert (
        "Ana Admin vous a invité à rejoindre l’équipe «\u00a0Équipe\u00a0» sur meetbook en tant"
        in text
    )
    assert "Créez votre compte: http" in text
    assert '<html lang="fr">' in html and "Ou collez cette adresse" in html


async def test_an_invite_to_an_existing_account_speaks_the_invitee_s_language(
    app, client, world: World
) -> None:
    ana, ben = await world.person("Ana Admin"), await world.person("Ben Berlin")
    await _speak(app, ana, "fr")
    await _speak(app, ben, "de")
    team_id = await _admin_team(app, world, ana)
    csrf = await sign_in(client, ana)
    await client.post(f"/teams/{team_id}/invites", data={"csrf_token": csrf, "email": ben.email})
    subject, text, _html = await _account_email(app, "account-invite", ben.email)
    assert subject == "Sie sind zu Équipe auf meetbook eingeladen"
    assert "Anmelden und beitreten: http" in text


async def test_a_password_reset_speaks_the_account_s_language(app, client, world: World) -> None:
    eva = await world.person("Eva España")
    await _speak(app, eva, "es")
    visitor = httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", headers={"Accept": "text/html"}
    )
    form = await visitor.get("/forgot-password", headers={"Accept-Language": "es"})
    assert "¿Ha olvidado su contraseña?" in form.text
    await visitor.post(
        "/forgot-password",
        data={"csrf_token": csrf_of(form.text), "email": eva.email},
        headers={"Accept-Language": "es"},
    )
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(PasswordReset.id).where(PasswordReset.user_id == eva.id))
    subject, text, _html = await _account_email(app, "password-reset", eva.email)
    assert subject == "Restablezca su contraseña de meetbook"
    assert text.startswith("Hola, Eva España:")
    assert "El enlace funciona una vez, durante 1 hora." in text


async def test_team_pages_in_german(app, client, world: World) -> None:
    ana = await world.person("Ana Admin")
    await _speak(app, ana, "de")
    team_id = await _admin_team(app, world, ana)
    await sign_in(client, ana)
    page = await client.get(f"/teams/{team_id}")
    for words in ("Mitglieder", "Personen einladen", "Name und Buchungsregeln", "Webhooks"):
        assert words in page.text
    assert "Invite people" not in page.text and "Members" not in page.text
    teams = await client.get("/teams")
    assert "Ihre Teams" in teams.text


async def test_a_withdrawn_invite_s_page_says_why_in_the_browser_s_language(
    app, client, world: World
) -> None:
    ana = await world.person("Ana Admin")
    team_id = await _admin_team(app, world, ana)
    csrf = await sign_in(client, ana)
    await client.post(
        f"/teams/{team_id}/invites", data={"csrf_token": csrf, "email": "x@example.com"}
    )
    async with app.state.sessionmaker() as session:
        invite = await session.scalar(select(TeamInvite).where(TeamInvite.email == "x@example.com"))
    assert invite is not None
    await client.post(f"/teams/{team_id}/invites/{invite.id}/revoke", data={"csrf_token": csrf})
    token = link_token(SECRET_KEY, "invite", invite.id, invite.salt)
    visitor = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await visitor.get(f"/invite/{token}", headers={"Accept-Language": "de-CH, en;q=0.5"})
    assert page.status_code == 404
    assert "Dieser Link funktioniert nicht" in page.text
    assert "Diese Einladung wurde von einem Team-Admin zurückgezogen" in page.text
