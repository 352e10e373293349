"""A request's optional title and notes (CONTRACT §1.2): the API, every email, the .ics."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from meetbook.notifications.content import EVENTS, Event, push_message
from meetbook.notifications.email import render_email
from meetbook.notifications.ics import build_invite
from tests.conftest import MovableClock, World, create_meeting, future
from tests.notifications.factories import (
    BASE_URL,
    DOMAIN,
    MAIL_FROM,
    make_meeting,
    make_notice,
)

NOTES = "Agenda:\n\t1. Numbers, costs; plans\n2. <b>Next</b> steps & owners"


@pytest.fixture
async def pair(world: World) -> tuple:
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    return requester, recipient, await world.team(requester, recipient)


async def test_title_and_notes_are_kept_and_shown_on_every_read(
    client, pair, clock: MovableClock
) -> None:
    requester, recipient, team_id = pair
    created = await create_meeting(
        client,
        requester,
        recipient,
        team_id,
        future(clock),
        title="  Quarterly review ",
        notes=NOTES.replace("\n", "\r\n"),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["title"] == "Quarterly review"
    assert body["notes"] == NOTES  # CR LF kept as LF, tabs kept
    one = await client.get(f"/api/v3/meeting/{body['id']}", headers=recipient.auth)
    assert (one.json()["title"], one.json()["notes"]) == ("Quarterly review", NOTES)
    listed = await client.get("/api/v3/meeting/list", headers=requester.auth)
    assert listed.json()["data"][0]["title"] == "Quarterly review"


async def test_title_and_notes_are_null_when_absent_or_empty(
    client, pair, clock: MovableClock
) -> None:
    requester, recipient, team_id = pair
    for extra in ({}, {"title": "", "notes": "   "}, {"title": None, "notes": None}):
        created = await create_meeting(
            client, requester, recipient, team_id, future(clock, days=len(extra) + 3), **extra
        )
        assert created.status_code == 201, created.text
        assert (created.json()["title"], created.json()["notes"]) == (None, None)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("title", "Review\r\nBcc: evil@attacker.test", "U+000D"),
        ("title", "Line one\nline two", "U+000A"),
        ("title", "Tab\there", "U+0009"),
        ("title", "abc\u202edcba", "U+202E"),
        ("title", "zero\u200bwidth", "U+200B"),
        ("notes", "bell\x07", "U+0007"),
        ("notes", "isolate \u2066x\u2069", "U+2066"),
        ("title", "x" * 201, "at most 200 characters"),
        ("notes", "x" * 2001, "at most 2000 characters"),
        ("title", 5, "must be a string"),
        ("notes", ["a"], "must be a string"),
    ],
)
async def test_hostile_or_oversized_text_is_refused_naming_the_field(
    client, pair, clock: MovableClock, field: str, value: object, says: str
) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(
        client, requester, recipient, team_id, future(clock), **{field: value}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == 400
    assert field in body["message"] and says in body["message"]
    assert body["details"][0]["field"] == field


def render(event: Event, **meeting: object) -> EmailMessage:
    notice = make_notice(event, make_meeting(**meeting))
    message = render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


@pytest.mark.parametrize("event", EVENTS)
def test_every_email_carries_the_title_and_notes_escaped_in_html(event: Event) -> None:
    title = "<script>alert(1)</script> review"
    message = render(event, title=title, notes=NOTES)
    text, html = part(message, "plain"), part(message, "html")
    assert title in text and NOTES in text
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; review" in html
    assert "&lt;b&gt;Next&lt;/b&gt; steps &amp; owners" in html


def test_a_title_in_a_subject_cannot_start_a_header() -> None:
    # The API refuses such a title; the renderer does not rely on that.
    message = render("meeting-reminder", title="Review\r\nBcc: evil@attacker.test")
    assert message["Bcc"] is None
    assert len(message.get_all("Subject") or []) == 1
    assert str(message["Subject"]).startswith("Meeting reminder: Review Bcc: evil@attacker.test")


def test_a_title_in_a_push_is_one_line() -> None:
    notice = make_notice("meeting-reminder", make_meeting(title="A\nB"), lead_minutes=90)
    title, body, data = push_message(notice)
    assert title == "MEETING REMINDER"
    assert body.startswith("A B: Your meeting with Bob Recipient starts in 90 minutes, on ")
    assert data["type"] == "meeting-reminder"


def test_ics_summary_is_the_title_and_the_description_starts_with_the_notes() -> None:
    raw = build_invite(
        make_meeting(title="Review; costs, plans", notes=NOTES),
        method="REQUEST",
        domain=DOMAIN,
        base_url=BASE_URL,
    )
    # RFC 5545 §3.3.11: the text's commas, semicolons and line breaks are escaped.
    assert b"SUMMARY:Review\\; costs\\, plans" in raw
    assert b"\\n" in raw
    [event] = Calendar.from_ical(raw).events
    assert event["SUMMARY"] == "Review; costs, plans"
    assert str(event["DESCRIPTION"]).startswith(NOTES + "\n")
    assert "Booking number: MB-7Q4K-9X2P" in event["DESCRIPTION"]


def test_ics_without_a_title_keeps_the_default_summary() -> None:
    raw = build_invite(make_meeting(), method="REQUEST", domain=DOMAIN, base_url=BASE_URL)
    [event] = Calendar.from_ical(raw).events
    assert event["SUMMARY"] == "Meeting: Alice Requester and Bob Recipient"


async def test_the_ics_route_carries_the_title(client, pair, clock: MovableClock) -> None:
    requester, recipient, team_id = pair
    created = await create_meeting(
        client, requester, recipient, team_id, future(clock), title="Kick-off", notes="Bring\nit"
    )
    response = await client.get(
        f"/api/v3/meeting/{created.json()['id']}/ics", headers=requester.auth
    )
    [event] = Calendar.from_ical(response.content).events
    assert event["SUMMARY"] == "Kick-off"
    assert str(event["DESCRIPTION"]).startswith("Bring\nit\n")


def test_the_request_again_link_stays_short_enough_to_open() -> None:
    long_notes = "会议" * 1000  # 2000 characters, 18000 once percent-encoded
    message = render("meeting-expired", notes=long_notes, title="T", team_id=1, recipient_id=2)
    [line] = [x for x in part(message, "plain").splitlines() if x.startswith("Request again")]
    assert len(line) < 9000 and "title=T" in line and "notes=" not in line
