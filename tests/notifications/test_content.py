"""Push texts and the time formatting shared by every channel."""

from __future__ import annotations

import pytest

from meetbook.notifications.content import (
    EVENTS,
    Event,
    one_line,
    push_message,
    reader_zone,
)
from meetbook.timeformat import format_when

from .factories import START, golden_notice, make_meeting, make_notice


def test_meeting_created_push_is_exact() -> None:
    title, body, data = push_message(make_notice("meeting-created"))

    assert title == "MEETING ALERT"
    assert body == "Alice Requester requested a meeting with you. Click to Confirm or Reject."
    assert data == {
        "type": "meeting-created",
        "meeting_id": "123",
        "booking_number": "MB-7Q4K-9X2P",
    }


@pytest.mark.parametrize("event", EVENTS)
def test_push_data_is_typed_by_event_and_all_strings(event: Event) -> None:
    title, body, data = push_message(make_notice(event))

    assert data["type"] == event
    assert all(isinstance(value, str) for value in data.values())
    assert title and body


@pytest.mark.parametrize(
    ("event", "title", "body"),
    [
        (
            "meeting-confirmed",
            "MEETING CONFIRMED",
            "Your meeting with Bob Recipient on 15 Dec 2025, 19:30 IST is confirmed.",
        ),
        (
            "meeting-rejected",
            "MEETING REJECTED",
            "Bob Recipient rejected your meeting request for 15 Dec 2025, 19:30 IST.",
        ),
        (
            "meeting-cancelled",
            "MEETING CANCELLED",
            "Bob Recipient cancelled the meeting on 15 Dec 2025, 19:30 IST.",
        ),
    ],
)
def test_push_texts_for_answers(event: Event, title: str, body: str) -> None:
    assert push_message(make_notice(event))[:2] == (title, body)


def test_confirmed_push_to_the_recipient_names_the_requester() -> None:
    meeting = make_meeting()
    notice = make_notice(
        "meeting-confirmed",
        meeting,
        to_name=meeting.recipient_name,
        to_email=meeting.recipient_email,
        to_timezone="America/New_York",
    )

    assert "Alice Requester on 15 Dec 2025, 09:00 EST" in push_message(notice)[1]


def test_push_body_cannot_span_lines() -> None:
    meeting = make_meeting(requester_name="Mallory\r\nline two")

    body = push_message(make_notice("meeting-created", meeting))[1]

    assert body.startswith("Mallory line two requested")


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "Monday 15 December 2025, 09:00 EST (America/New_York)"),
        ("Asia/Kolkata", "Monday 15 December 2025, 19:30 IST (Asia/Kolkata)"),
        ("UTC", "Monday 15 December 2025, 14:00 UTC"),
        ("Not/AZone", "Monday 15 December 2025, 14:00 UTC"),
        ("", "Monday 15 December 2025, 14:00 UTC"),
    ],
)
def test_format_when(zone: str, expected: str) -> None:
    assert format_when(START, reader_zone(zone)) == expected


def test_one_line_removes_control_characters() -> None:
    assert one_line("  a\r\nb\tc\x00d\u2028e  ") == "a b c d e"


@pytest.mark.parametrize(
    ("event", "title", "body"),
    [
        (
            "meeting-proposed",
            "NEW TIME PROPOSED",
            "Bob Recipient proposed another time for your meeting: 16 Dec 2025, 19:30 IST. "
            "Click to answer.",
        ),
        (
            "meeting-proposal-declined",
            "NEW TIME DECLINED",
            "Bob Recipient declined moving the meeting to 16 Dec 2025, 19:30 IST; "
            "it stays on 15 Dec 2025, 19:30 IST.",
        ),
        (
            "meeting-rescheduled",
            "MEETING RESCHEDULED",
            "Your meeting with Bob Recipient moved to 16 Dec 2025, 19:30 IST.",
        ),
    ],
)
def test_push_texts_for_new_times(event: Event, title: str, body: str) -> None:
    assert push_message(golden_notice(event))[:2] == (title, body)
