"""Emails and push in the reader's language: golden emails per locale, and real delivery."""

from __future__ import annotations

import os
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from meetbook.notifications.content import EVENTS, Event, push_message
from meetbook.notifications.email import render_email
from tests.conftest import World, create_meeting, future
from tests.notifications.factories import (
    BASE_URL,
    DOMAIN,
    MAIL_FROM,
    RENDER_NOW,
    golden_notice,
    make_notice,
)
from tests.notifications.test_worker import make_worker

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("MEETBOOK_UPDATE_GOLDEN") == "1"
TRANSLATED = ("de", "es", "fr")

SUBJECTS = {
    "en": "You have received new meeting request!",
    "de": "Sie haben eine neue Terminanfrage erhalten!",
    "es": "¡Ha recibido una nueva solicitud de reunión!",
    # A subject is one line of plain spaces (content.one_line): no non-breaking space.
    "fr": "Vous avez reçu une nouvelle demande de réunion !",
}


def _render(event: Event, locale: str) -> EmailMessage:
    notice = replace(golden_notice(event), to_locale=locale)
    return render_email(
        notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN, now=RENDER_NOW
    )


def _part(message: EmailMessage, kind: str) -> str:
    part = message.get_body(("plain",) if kind == "txt" else ("html",))
    assert part is not None
    content: str = part.get_content()
    return content


@pytest.mark.parametrize("locale", TRANSLATED)
@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("kind", ["txt", "html"])
def test_body_matches_the_golden_file_of_its_language(event: Event, locale: str, kind: str) -> None:
    body = _part(_render(event, locale), kind)
    golden = GOLDEN / locale / f"{event}.{kind}"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(body, encoding="utf-8", newline="")
    assert golden.exists(), f"missing {golden}; run with MEETBOOK_UPDATE_GOLDEN=1"
    assert body == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("locale", ["en", *TRANSLATED])
def test_the_created_subject_in_each_language(locale: str) -> None:
    message = _render("meeting-created", locale)
    assert message["Subject"] == SUBJECTS[locale]
    assert f'<html lang="{locale}">' in _part(message, "html")


def test_an_email_speaks_its_reader_with_their_day_names_and_clock() -> None:
    text = _part(_render("meeting-confirmed", "de"), "txt")
    assert "Hallo Alice Requester," in text
    # The requester in Kolkata; both times in German words.
    assert "Montag, 15. Dezember 2025, 19:30 IST (Asia/Kolkata)" in text
    assert "Montag, 15. Dezember 2025, 14:00 UTC" in text
    assert "Dauer:          1 Stunde" in text
    assert "Eine Kalendereinladung ist angehängt." in text
    invite = next(
        p
        for p in _render("meeting-confirmed", "de").walk()
        if p.get_content_type() == "text/calendar"
    )
    assert "SUMMARY:Termin: Alice Requester und Bob Recipient" in invite.get_content()


def test_an_unknown_locale_reads_in_english() -> None:
    message = _render("meeting-created", "pt")
    assert message["Subject"] == SUBJECTS["en"]
    assert "requested a meeting with you" in _part(message, "txt")


def test_push_in_english_is_the_contract_s_exactly() -> None:
    title, body, data = push_message(make_notice("meeting-created"))
    assert title == "MEETING ALERT"
    assert body == "Alice Requester requested a meeting with you. Click to Confirm or Reject."
    assert data["type"] == "meeting-created"


def test_push_in_the_reader_s_language() -> None:
    title, body, data = push_message(make_notice("meeting-created", to_locale="de"))
    assert title == "TERMINANFRAGE"
    assert body == (
        "Alice Requester hat einen Termin mit Ihnen angefragt. "
        "Tippen Sie, um zuzusagen oder abzulehnen."
    )
    assert data["type"] == "meeting-created"  # data stays the same in every language
    title, body, _data = push_message(make_notice("meeting-rejected", to_locale="fr"))
    assert title == "RÉUNION REFUSÉE"
    assert body == (
        "Bob Recipient a refusé votre demande de réunion pour le 15 déc. 2025, 19:30 IST."
    )


async def test_each_recipient_gets_their_own_language_over_smtp(
    app, client, inbox, world: World, clock
) -> None:
    handler, port = inbox
    requester = await world.person("Rita Requester", timezone="Europe/Paris")
    recipient = await world.person("Dieter Empfänger", timezone="Europe/Berlin")
    for person, locale in ((requester, "fr"), (recipient, "de")):
        answer = await client.patch("/api/v3/me", json={"locale": locale}, headers=person.auth)
        assert answer.status_code == 200 and answer.json()["locale"] == locale
    team_id = await world.team(requester, recipient)
    created = await create_meeting(client, requester, recipient, team_id, future(clock, 5, 14))
    meeting = created.json()
    worker = make_worker(app, port)
    await worker.drain()
    [first] = handler.messages()
    assert first["Subject"] == "Sie haben eine neue Terminanfrage erhalten!"
    assert "Rita Requester hat einen Termin mit Ihnen angefragt." in _part(first, "txt")
    assert "Buchungsnummer" in _part(first, "html")

    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    await worker.drain()
    confirmed = {m["To"]: m for m in handler.messages()[1:]}
    to_requester = next(m for to, m in confirmed.items() if requester.email in to)
    to_recipient = next(m for to, m in confirmed.items() if recipient.email in to)
    assert to_requester["Subject"].startswith("Réunion confirmée : Dieter Empfänger, ")
    assert "Dieter Empfänger a confirmé votre demande de réunion." in _part(to_requester, "txt")
    assert to_recipient["Subject"].startswith("Termin bestätigt: Rita Requester, ")
