"""`locale` on GET/PATCH /api/v3/me (CONTRACT §1.4, §2); the API itself stays English."""

from __future__ import annotations

import pytest

from tests.conftest import World


async def test_locale_defaults_to_english_and_can_be_changed(client, world: World) -> None:
    person = await world.person("Lena")
    assert (await client.get("/api/v3/me", headers=person.auth)).json()["locale"] == "en"
    changed = await client.patch("/api/v3/me", json={"locale": "de"}, headers=person.auth)
    assert changed.status_code == 200 and changed.json()["locale"] == "de"
    # Other fields left out keep the language, and the language keeps the other fields.
    renamed = await client.patch("/api/v3/me", json={"name": "Lena B."}, headers=person.auth)
    assert renamed.json()["locale"] == "de"
    assert (await client.get("/api/v3/me", headers=person.auth)).json() == {
        **renamed.json(),
        "name": "Lena B.",
        "locale": "de",
    }


@pytest.mark.parametrize("value", ["pt", "DE", "de-DE", "", None, 7, ["fr"]])
async def test_an_unknown_locale_is_refused_naming_the_choices(client, world: World, value) -> None:
    person = await world.person()
    response = await client.patch("/api/v3/me", json={"locale": value}, headers=person.auth)
    assert response.status_code == 400
    assert response.json() == {
        "error": 400,
        "message": "Invalid value for locale: must be one of en, de, es, fr.",
        "details": [{"field": "locale", "message": "must be one of en, de, es, fr"}],
    }
    assert (await client.get("/api/v3/me", headers=person.auth)).json()["locale"] == "en"


async def test_api_messages_stay_english_whatever_the_language(client, world: World) -> None:
    person = await world.person()
    await client.patch("/api/v3/me", json={"locale": "fr"}, headers=person.auth)
    response = await client.patch(
        "/api/v3/me",
        json={"timezone": "Mars/Olympus"},
        headers={**person.auth, "Accept-Language": "fr"},
    )
    assert response.status_code == 400
    assert "must be a valid IANA timezone name" in response.json()["message"]
