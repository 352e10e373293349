"""The page's part of titles, notes and reminders: the request form and /settings."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy import update

from meetbook.models import User

from .conftest import World, csrf_of, sign_in

NOTES = "Agenda:\n\t1. <b>Numbers</b>\n2. Next steps"


async def test_a_request_with_a_title_and_notes_shows_them_on_the_page(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    form = await client.get(f"/meetings/new?team={team}")
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    response = await client.post(
        "/meetings/new",
        data={
            "csrf_token": csrf_of(form.text),
            "team_id": str(team),
            "user_id": str(ben.id),
            "date": f"{day}T15:00",
            "link": "",
            "title": "Budget <review>",
            "notes": NOTES,
        },
    )
    assert response.status_code == 303, response.text
    sent = await client.get("/meetings?tab=sent")
    assert '<p class="meeting-title">Budget &lt;review&gt;</p>' in sent.text
    meeting_id = int(re.findall(r'id="meeting-(\d+)"', sent.text)[0])
    page = await client.get(f"/meetings/{meeting_id}")
    assert "Budget &lt;review&gt;" in page.text
    assert htmllib.escape(NOTES, quote=False) in page.text
    stored = await world.stored(meeting_id)
    assert (stored.title, stored.notes) == ("Budget <review>", NOTES)


async def test_a_hostile_title_is_shown_next_to_its_field(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    form = await client.get(f"/meetings/new?team={team}")
    day = (datetime.now(UTC) + timedelta(days=10)).date()
    response = await client.post(
        "/meetings/new",
        data={
            "csrf_token": csrf_of(form.text),
            "team_id": str(team),
            "user_id": str(ben.id),
            "date": f"{day}T15:00",
            "title": "abc\u202edcba",
            "notes": "kept",
        },
    )
    assert response.status_code == 400
    assert 'id="title-error"' in response.text and "U+202E" in response.text
    assert ">kept</textarea>" in response.text


async def test_the_request_again_link_fills_in_the_form(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    await sign_in(client, ana)
    query = urlencode(
        {
            "team": team,
            "member": ben.id,
            "link": "https://zoom.us/j/1?a=1&b=2",
            "title": 'Kick-off "v2"',
            "notes": NOTES,
        }
    )
    page = await client.get(f"/meetings/new?{query}")
    assert page.status_code == 200
    text = page.text
    assert f'<option value="{ben.id}"' in text and "selected>Ben Carter" in text
    assert 'name="link" value="https://zoom.us/j/1?a=1&amp;b=2"' in text
    assert 'name="title" value="Kick-off &#34;v2&#34;"' in text
    assert f">{htmllib.escape(NOTES, quote=True).replace('&quot;', '&#34;')}</textarea>" in text


async def test_reminders_are_set_in_settings_without_javascript(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    page = await client.get("/settings")
    assert 'name="reminder_1" value="60"' in page.text
    assert 'name="reminder_2" value=""' in page.text
    response = await client.post(
        "/settings/reminders",
        data={"csrf_token": csrf, "reminder_1": "15", "reminder_2": "1440", "reminder_3": "15"},
    )
    assert response.status_code == 303
    page = await client.get("/settings")
    assert "You will be reminded 1 day, 15 minutes before each meeting." in page.text
    assert 'name="reminder_1" value="15"' in page.text
    assert 'name="reminder_2" value="1440"' in page.text
    assert 'name="reminder_3" value=""' in page.text

    none = await client.post(
        "/settings/reminders",
        data={"csrf_token": csrf, "reminder_1": "", "reminder_2": "", "reminder_3": ""},
    )
    assert none.status_code == 303
    async with world.app.state.sessionmaker() as session:
        user = await session.get(User, ana.id)
        assert user is not None and user.reminder_minutes == []


async def test_a_bad_reminder_is_explained_and_nothing_is_saved(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    for bad in ("2", "soon", "99999"):
        response = await client.post(
            "/settings/reminders", data={"csrf_token": csrf, "reminder_1": bad}
        )
        assert response.status_code == 400
        assert 'id="reminders-error"' in response.text
        assert "from 5 to 10080" in response.text
        assert f'name="reminder_1" value="{bad}"' in response.text
    async with world.app.state.sessionmaker() as session:
        user = await session.get(User, ana.id)
        assert user is not None and user.reminder_minutes is None


async def test_the_request_fields_and_reminders_read_in_the_viewer_s_language(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    ben = await world.person("Ben Carter", "America/New_York")
    team = await world.team(ana, ben)
    async with world.app.state.sessionmaker() as session:
        await session.execute(update(User).where(User.id == ana.id).values(locale="de"))
        await session.commit()
    csrf = await sign_in(client, ana)
    form = await client.get(f"/meetings/new?team={team}")
    assert '<label for="title">Titel <span class="optional">(optional)</span>' in form.text
    assert '<label for="notes">Notizen oder Tagesordnung' in form.text
    page = await client.get("/settings")
    assert '<h2 id="reminders-heading">Erinnerungen</h2>' in page.text
    assert "Erinnerung 2, Minuten vorher" in page.text
    assert ">Erinnerungen speichern</button>" in page.text
    response = await client.post(
        "/settings/reminders", data={"csrf_token": csrf, "reminder_1": "60", "reminder_2": ""}
    )
    assert response.status_code == 303
    page = await client.get("/settings")
    assert "Gespeichert. Sie werden vor jedem Termin erinnert" in page.text
    assert "1 Stunde" in page.text
    none = await client.post("/settings/reminders", data={"csrf_token": csrf, "reminder_1": ""})
    assert none.status_code == 303
    page = await client.get("/settings")
    assert "Gespeichert. Sie erhalten keine Erinnerungen." in page.text
