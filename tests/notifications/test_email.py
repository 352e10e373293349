"""Rendering of notification emails: bodies, headers, escaping and calendar parts."""

from __future__ import annotations

import os
import re
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from meetbook.notifications.content import EVENTS, Event, Notice
from meetbook.notifications.email import render_email
from meetbook.notifications.errors import PermanentDeliveryError

from .factories import (
    BASE_URL,
    DOMAIN,
    MAIL_FROM,
    RENDER_NOW,
    golden_notice,
    make_meeting,
    make_notice,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("MEETBOOK_UPDATE_GOLDEN") == "1"


def render(notice: Notice, **options: Any) -> EmailMessage:
    return render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN, **options)


def roundtrip(message: EmailMessage) -> EmailMessage:
    """What a receiving server would parse from the wire bytes."""
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part in message.walk()
        if part.get_content_type() == "text/calendar"
        and part.get_content_disposition() != "attachment"
    ]


def attachments(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())  # type: ignore[arg-type]


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("kind", ["txt", "html"])
def test_body_matches_golden_file(event: Event, kind: str) -> None:
    message = render(golden_notice(event), now=RENDER_NOW)
    body = text_of(message) if kind == "txt" else html_of(message)
    golden = GOLDEN / f"{event}.{kind}"
    if UPDATE_GOLDEN:
        golden.write_text(body, encoding="utf-8", newline="")
    assert golden.exists(), f"missing {golden.name}; run with MEETBOOK_UPDATE_GOLDEN=1"
    assert body == golden.read_text(encoding="utf-8")


def test_meeting_created_subject_and_content() -> None:
    message = roundtrip(render(make_notice("meeting-created")))

    assert message["Subject"] == "You have received new meeting request!"
    assert message.get_content_type() == "multipart/alternative"
    for body in (text_of(message), html_of(message)):
        assert "Alice Requester" in body
        assert "MB-7Q4K-9X2P" in body
        assert f"{BASE_URL}/meetings?tab=pending-meeting" in body
        assert f"{BASE_URL}/meetings/123" in body
        assert "https://zoom.us/j/1234567890" in body
        assert "Monday 15 December 2025, 09:00 EST (America/New_York)" in body
        assert "Monday 15 December 2025, 14:00 UTC" in body
    assert calendar_parts(message) == []
    assert attachments(message) == []


def test_times_are_shown_in_the_readers_zone() -> None:
    kolkata = make_notice("meeting-created", to_timezone="Asia/Kolkata")

    text = text_of(render(kolkata))

    assert "Monday 15 December 2025, 19:30 IST (Asia/Kolkata)" in text
    assert "Monday 15 December 2025, 14:00 UTC" in text


def test_a_reader_in_utc_or_an_unknown_zone_sees_the_time_once() -> None:
    for zone in ("UTC", "Mars/Olympus_Mons"):
        text = text_of(render(make_notice("meeting-created", to_timezone=zone)))
        assert text.count("Monday 15 December 2025, 14:00 UTC") == 1
        assert "(" not in text.split("When:")[1].split("\n")[0]


def test_meeting_link_is_optional() -> None:
    message = render(make_notice("meeting-created", make_meeting(link=None)))

    assert "Meeting link" not in text_of(message)
    assert "Meeting link" not in html_of(message)


def test_message_id_is_stable_per_notification() -> None:
    notice = make_notice("meeting-confirmed")

    first, second = render(notice), render(notice)

    assert first["Message-ID"] == "<notification-9002.meeting-123@mb-7q4k-9x2p.meet.example.test>"
    assert second["Message-ID"] == first["Message-ID"]
    other = render(make_notice("meeting-confirmed", notification_id=9003))
    assert other["Message-ID"] != first["Message-ID"]


def test_headers_date_from_and_auto_submitted() -> None:
    message = roundtrip(render(make_notice("meeting-created"), now=RENDER_NOW))

    assert message["Date"].datetime == RENDER_NOW
    assert message["From"].addresses[0].display_name == "meetbook"
    assert message["From"].addresses[0].addr_spec == "no-reply@meet.example.test"
    assert message["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    "name",
    [
        "Eve\r\nBcc: evil@attacker.test",
        "Eve\nBcc: evil@attacker.test",
        'Doe, "Jane" <jane@attacker.test>',
        "<script>alert(1)</script>",
    ],
)
def test_names_cannot_inject_headers_or_recipients(name: str) -> None:
    meeting = make_meeting(requester_name=name, recipient_name=name)
    notice = make_notice(
        "meeting-confirmed",
        meeting,
        to_name=name,
        to_email="alice@example.test",
        actor_name=name,
    )

    wire = render(notice).as_bytes(policy=policy.SMTP)
    message = roundtrip(render(notice))

    assert b"\r\nBcc:" not in wire
    assert message["Bcc"] is None
    assert len(message.get_all("To")) == 1
    [to] = message["To"].addresses
    assert to.addr_spec == "alice@example.test"
    assert "\n" not in to.display_name and "\r" not in to.display_name
    assert len(message.get_all("Subject")) == 1
    assert "\n" not in message["Subject"]


def test_every_user_value_is_escaped_in_html() -> None:
    script = "<script>alert(1)</script>"
    meeting = make_meeting(
        requester_name=script,
        recipient_name=script,
        link='https://x.test/?a="><script>alert(2)</script>',
        reason=script,
        booking_number="MB-<b>",
    )
    for event in EVENTS:
        notice = make_notice(event, meeting, to_name=script, actor_name=script)
        html = html_of(render(notice))
        assert "<script" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "MB-&lt;b&gt;" in html
        # The plain-text part carries the name as written.
        assert script in text_of(render(notice))


def test_a_non_http_link_is_not_clickable() -> None:
    html = html_of(render(make_notice("meeting-created", make_meeting(link="javascript:alert(1)"))))

    assert 'href="javascript' not in html
    assert "javascript:alert(1)" in html


def test_an_invalid_recipient_address_is_a_permanent_failure() -> None:
    with pytest.raises(PermanentDeliveryError):
        render(make_notice("meeting-created", to_email="not an address"))


def test_confirmed_email_carries_a_request_invite_inline_and_attached() -> None:
    message = roundtrip(render(make_notice("meeting-confirmed")))

    assert message.get_content_type() == "multipart/mixed"
    [inline] = calendar_parts(message)
    assert inline.get_param("method") == "REQUEST"
    [attachment] = attachments(message)
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() == "application/ics"
    for part in (inline, attachment):
        content = part.get_content()
        calendar = Calendar.from_ical(content if isinstance(content, bytes) else content.encode())
        assert calendar["METHOD"] == "REQUEST"
        assert calendar.events[0]["UID"] == "meeting-MB-7Q4K-9X2P@meet.example.test"
    # Text and HTML still come first for clients without calendar support.
    assert "is confirmed" in text_of(message) or "confirmed your meeting" in text_of(message)


def test_both_participants_get_the_same_invite() -> None:
    meeting = make_meeting()
    to_requester = make_notice("meeting-confirmed", meeting)
    to_recipient = make_notice(
        "meeting-confirmed",
        meeting,
        to_name=meeting.recipient_name,
        to_email=meeting.recipient_email,
        to_timezone="America/New_York",
        notification_id=9010,
    )

    invites = [
        attachments(roundtrip(render(notice, now=RENDER_NOW)))[0].get_content()
        for notice in (to_requester, to_recipient)
    ]

    assert invites[0] == invites[1]
    assert "Alice Requester" in text_of(render(to_recipient))
    assert "Bob Recipient" in text_of(render(to_requester))


def test_cancelling_a_confirmed_meeting_sends_a_cancel_invite() -> None:
    meeting = make_meeting(was_confirmed=True, sequence=1, reason="Travel")
    message = roundtrip(render(make_notice("meeting-cancelled", meeting)))

    [inline] = calendar_parts(message)
    assert inline.get_param("method") == "CANCEL"
    calendar = Calendar.from_ical(inline.get_content().encode())
    assert calendar["METHOD"] == "CANCEL"
    assert calendar.events[0]["STATUS"] == "CANCELLED"
    assert calendar.events[0]["SEQUENCE"] == 1
    assert [a.get_filename() for a in attachments(message)] == ["invite.ics"]
    assert "Reason: Travel" in text_of(message)


def test_cancelling_a_pending_meeting_sends_no_invite() -> None:
    message = roundtrip(render(make_notice("meeting-cancelled", make_meeting(was_confirmed=False))))

    assert message.get_content_type() == "multipart/alternative"
    assert calendar_parts(message) == []
    assert attachments(message) == []


def test_rejected_email_gives_the_reason() -> None:
    notice = make_notice("meeting-rejected", make_meeting(reason="Out of office"))
    message = render(notice)

    assert message["Subject"] == "Meeting request rejected: Bob Recipient, 15 Dec 2025, 19:30 IST"
    assert "Bob Recipient rejected your meeting request." in text_of(message)
    assert "Out of office" in text_of(message)
    assert "Out of office" in html_of(message)
    assert calendar_parts(message) == []


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        ("meeting-confirmed", "Meeting confirmed: Bob Recipient, 15 Dec 2025, 19:30 IST"),
        ("meeting-cancelled", "Meeting cancelled: Bob Recipient, 15 Dec 2025, 19:30 IST"),
    ],
)
def test_subjects_name_the_other_participant_and_the_readers_time(
    event: Event, subject: str
) -> None:
    assert render(make_notice(event))["Subject"] == subject


# Header folding and identity (issue 10) -------------------------------------------------

LONG_NAME = "Zoë Ångström-Øvergaard Łukasiewicz Ñúñez Çelik Šťastná Ďuriš"
ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("name", [LONG_NAME, "李" * 60, ("Ünïcödé " * 8).strip()])
def test_long_non_ascii_names_fold_within_the_rfc_limits(event: Event, name: str) -> None:
    assert len(name) >= 60
    meeting = make_meeting(requester_name=name, recipient_name=name)
    notice = make_notice(event, meeting, to_name=name, actor_name=name)
    wire = render(notice).as_bytes(policy=policy.SMTP)
    head = wire.split(b"\r\n\r\n", 1)[0].decode("ascii")

    for line in head.split("\r\n"):
        assert len(line) <= 78, line  # RFC 5322 §2.1.1
    words = ENCODED_WORD.findall(head)
    assert words and all(len(word) <= 75 for word in words), words  # RFC 2047 §2
    # An RFC 2047 decoder gets the name back exactly.
    parsed = message_from_bytes(wire, policy=policy.compat32)
    to = str(make_header(decode_header(parsed["To"])))
    assert to == f"{name} <{notice.to_email}>"
    subject = str(make_header(decode_header(parsed["Subject"])))
    if event != "meeting-created":
        assert name in subject


def test_message_id_and_uid_differ_between_installs_and_stay_stable() -> None:
    # Two installs (or a restored database) reuse row ids; their booking numbers differ.
    here = make_notice("meeting-confirmed", make_meeting(booking_number="MB-7Q4K-9X2P-M3KC"))
    there = make_notice("meeting-confirmed", make_meeting(booking_number="MB-1ABC-2DEF-3GH4"))
    assert here.notification_id == there.notification_id and here.meeting.id == there.meeting.id

    assert render(here)["Message-ID"] != render(there)["Message-ID"]
    assert render(here)["Message-ID"] == render(here)["Message-ID"]
    uids = {calendar_uid(render(notice)) for notice in (here, there)}
    assert len(uids) == 2
    # One meeting keeps one UID from its invite to its cancellation.
    cancelled = make_notice(
        "meeting-cancelled",
        make_meeting(booking_number="MB-7Q4K-9X2P-M3KC", was_confirmed=True, sequence=1),
    )
    assert calendar_uid(render(cancelled)) == calendar_uid(render(here))


def calendar_uid(message: EmailMessage) -> str:
    [part, *_] = calendar_parts(message)
    return str(Calendar.from_ical(part.get_content()).walk("VEVENT")[0]["UID"])
