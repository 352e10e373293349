"""The page's language: the viewer's `locale`, else the browser's Accept-Language."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from .conftest import World, csrf_of, sign_in

PARIS = ZoneInfo("Europe/Paris")
FRENCH_MONTHS = [
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
]


async def test_signed_out_pages_follow_accept_language(client: httpx.AsyncClient) -> None:
    german = await client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in german.text
    assert "<h1>Anmelden</h1>" in german.text and "Passwort" in german.text
    other = await client.get("/login", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in other.text and "<h1>Sign in</h1>" in other.text
    plain = await client.get("/login")
    assert "<h1>Sign in</h1>" in plain.text


async def test_a_wrong_password_is_said_in_the_browser_s_language(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    french = {"Accept-Language": "fr"}
    page = await client.get("/login", headers=french)
    response = await client.post(
        "/login",
        data={"email": ana.email, "password": "wrong", "csrf_token": csrf_of(page.text)},
        headers=french,
    )
    assert response.status_code == 400
    assert "L’adresse e-mail ou le mot de passe est incorrect." in response.text


async def test_an_unknown_address_answers_in_the_browser_s_language(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/no/such/page", headers={"Accept-Language": "es"})
    assert response.status_code == 404
    assert "<h1>No encontrado</h1>" in response.text
    assert "No hay nada en esta dirección." in response.text


async def test_choosing_a_language_in_settings_switches_the_page(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Berlin")
    client.headers["Accept-Language"] = "fr"  # the browser's; the account's language wins
    csrf = await sign_in(client, ana)
    settings = await client.get("/settings")
    assert "<h1>Settings</h1>" in settings.text
    assert '<option value="en" lang="en" selected>English</option>' in settings.text
    response = await client.post(
        "/settings/profile",
        data={"csrf_token": csrf, "name": "Ana Lima", "timezone": "Europe/Berlin", "locale": "de"},
    )
    assert response.status_code == 303
    page = await client.get("/settings")
    assert '<html lang="de">' in page.text and "<h1>Einstellungen</h1>" in page.text
    assert "Gespeichert. Zeiten werden jetzt in Europe/Berlin" in page.text
    assert '<option value="de" lang="de" selected>Deutsch</option>' in page.text
    assert '<label for="hours_mon">Montag</label>' in page.text
    meetings = await client.get("/meetings")
    assert "Anfragen, die auf Ihre Antwort warten" in meetings.text
    assert "Abmelden" in meetings.text


async def test_an_unknown_language_in_the_form_is_refused_next_to_it(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    response = await client.post(
        "/settings/profile",
        data={"csrf_token": csrf, "name": "Ana", "timezone": "Europe/Lisbon", "locale": "xx"},
    )
    assert response.status_code == 400
    assert 'id="locale-error">Choose one of the languages offered.' in response.text


async def test_a_meeting_reads_in_the_viewer_s_language_with_its_dates(
    client: httpx.AsyncClient, world: World
) -> None:
    requester = await world.person("Rita", "Europe/Paris")
    recipient = await world.person("Dora", "Europe/Paris")
    team_id = await world.team(requester, recipient)
    day = datetime.now(UTC).date() + timedelta(days=14)
    day += timedelta(days=-day.weekday())  # a Monday, 8 to 14 days ahead
    start = datetime.combine(day, time(9, 0), tzinfo=PARIS)
    when = f"lun. {day.day} {FRENCH_MONTHS[day.month - 1]} {day.year}, 09:00\u201310:00"
    meeting_id = await world.meeting(requester, recipient, team_id, start=start)
    csrf = await sign_in(client, recipient)
    await client.post(
        "/settings/profile",
        data={"csrf_token": csrf, "name": "Dora", "timezone": "Europe/Paris", "locale": "fr"},
    )
    page = await client.get(f"/meetings/{meeting_id}")
    assert "Rita vous demande une réunion" in page.text
    assert when in page.text
    assert "En attente de réponse" in page.text and "Historique" in page.text
    answer = await client.post(
        f"/meetings/{meeting_id}/confirm", data={"csrf_token": csrf, "back": "/meetings"}
    )
    assert answer.status_code == 303
    landing = await client.get(answer.headers["location"])
    assert f"La réunion avec Rita du {when}" in landing.text
    assert "Vous recevrez tous deux une invitation d’agenda." in landing.text


async def test_the_signed_in_language_beats_the_browser_s(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    await client.post(
        "/settings/profile",
        data={"csrf_token": csrf, "name": "Ana", "timezone": "Europe/Lisbon", "locale": "es"},
    )
    page = await client.get("/meetings/new", headers={"Accept-Language": "de"})
    assert "<h1>Solicitar una reunión</h1>" in page.text
