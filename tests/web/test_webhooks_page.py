"""The team page's webhooks section (web/webhooks.py): add (secret shown once), test,
delete, for team admins only; through its stand-in route /teams/{id}/webhooks."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from meetbook.accounts import service as accounts
from meetbook.models import Notification

from .conftest import Person, World, sign_in

URL = "https://1.1.1.1/meetbook-hook"  # a public literal address: no DNS needed
_SECRET = re.compile(r'id="webhook-secret" type="text" value="(whsec_[^"]+)"')


async def _admin_of_team(world: World, app: FastAPI) -> tuple[Person, int]:
    admin = await world.person("Ada Admin")
    team_id = await world.team(name="Acme")
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, admin.id, role="admin")
    return admin, team_id


async def test_an_admin_adds_tests_and_deletes_a_webhook(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    admin, team_id = await _admin_of_team(world, app)
    csrf = await sign_in(client, admin)
    page = await client.get(f"/teams/{team_id}/webhooks")
    assert page.status_code == 200
    assert "This team has no webhooks." in page.text
    assert 'value="meeting-reminder"' in page.text  # every event can be chosen

    added = await client.post(
        f"/teams/{team_id}/webhooks",
        data={"csrf_token": csrf, "url": URL, "events": ["meeting-created", "meeting-cancelled"]},
    )
    assert added.status_code == 200
    secret = _SECRET.search(added.text)
    assert secret, added.text
    assert "meeting-created, meeting-cancelled" in added.text
    again = await client.get(f"/teams/{team_id}/webhooks")
    assert secret.group(1) not in again.text  # shown once
    assert URL in again.text

    hook_id = re.search(rf"/teams/{team_id}/webhooks/(\d+)/test", again.text)
    assert hook_id
    tested = await client.post(
        f"/teams/{team_id}/webhooks/{hook_id.group(1)}/test", data={"csrf_token": csrf}
    )
    assert tested.status_code == 303
    assert "A ping is on its way" in (await client.get(tested.headers["location"])).text
    async with app.state.sessionmaker() as session:
        pings = (
            await session.scalars(select(Notification).where(Notification.event == "ping"))
        ).all()
    assert [p.webhook_id for p in pings] == [int(hook_id.group(1))]

    deleted = await client.post(
        f"/teams/{team_id}/webhooks/{hook_id.group(1)}/delete", data={"csrf_token": csrf}
    )
    assert deleted.status_code == 303
    after = (await client.get(deleted.headers["location"])).text
    assert "Deleted. That endpoint no longer receives events." in after
    assert "This team has no webhooks." in after


async def test_bad_input_shows_the_reason_beside_the_field(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    admin, team_id = await _admin_of_team(world, app)
    csrf = await sign_in(client, admin)
    refused = await client.post(
        f"/teams/{team_id}/webhooks",
        data={"csrf_token": csrf, "url": "https://127.0.0.1/x", "events": ["meeting-created"]},
    )
    assert refused.status_code == 400
    assert "is not allowed because its host 127.0.0.1 is a loopback address" in refused.text
    assert 'value="https://127.0.0.1/x"' in refused.text  # what was typed stays
    none = await client.post(f"/teams/{team_id}/webhooks", data={"csrf_token": csrf, "url": URL})
    assert none.status_code == 400
    assert "Choose at least one event." in none.text


async def test_members_who_are_not_admins_are_refused(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    _admin, team_id = await _admin_of_team(world, app)
    member = await world.person("Mo Member")
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, member.id)
    csrf = await sign_in(client, member)
    page = await client.get(f"/teams/{team_id}/webhooks")
    assert page.status_code == 403
    assert "Only an admin of this team can manage its webhooks." in page.text
    added = await client.post(
        f"/teams/{team_id}/webhooks",
        data={"csrf_token": csrf, "url": URL, "events": ["meeting-created"]},
    )
    assert added.status_code == 403
    wrong = await client.post(
        f"/teams/{team_id}/webhooks",
        data={"csrf_token": "wrong", "url": URL, "events": ["meeting-created"]},
    )
    assert wrong.status_code == 403


async def test_the_team_page_includes_the_section_for_admins_only(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    admin, team_id = await _admin_of_team(world, app)
    member = await world.person("Mo Member")
    async with app.state.sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, member.id)
    await sign_in(client, admin)
    page = await client.get(f"/teams/{team_id}")
    assert page.status_code == 200
    assert 'id="webhooks-heading"' in page.text
    assert f'action="/teams/{team_id}/webhooks"' in page.text
    client.cookies.clear()
    await sign_in(client, member)
    page = await client.get(f"/teams/{team_id}")
    assert page.status_code == 200
    assert 'id="webhooks-heading"' not in page.text
