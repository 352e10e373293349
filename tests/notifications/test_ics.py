"""Calendar invites parse back as RFC 5545 objects with the promised properties."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from meetbook.notifications.content import MeetingInfo
from meetbook.notifications.ics import build_invite

from .factories import BASE_URL, DOMAIN, RENDER_NOW, START, make_meeting


def parse(meeting: MeetingInfo, **options: Any) -> tuple[Calendar, Event, bytes]:
    options = {"method": "REQUEST", "domain": DOMAIN, "base_url": BASE_URL, **options}
    raw = build_invite(meeting, **options)
    calendar = Calendar.from_ical(raw)
    [event] = calendar.events
    return calendar, event, raw


def test_request_invite_properties() -> None:
    calendar, event, raw = parse(make_meeting())

    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//meetbook//meetbook//EN"
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == "meeting-MB-7Q4K-9X2P@meet.example.test"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["DTSTART"].dt == START
    assert event["DTEND"].dt == START + timedelta(hours=1)
    assert event["DTSTART"].dt.utcoffset() == timedelta(0)
    assert b"DTSTART:20251215T140000Z" in raw
    assert b"DTEND:20251215T150000Z" in raw
    assert "DTSTAMP" in event
    assert event["SUMMARY"] == "Meeting: Alice Requester and Bob Recipient"
    assert event["URL"] == "https://zoom.us/j/1234567890"
    assert event["LOCATION"] == "https://zoom.us/j/1234567890"
    assert "MB-7Q4K-9X2P" in event["DESCRIPTION"]
    assert f"{BASE_URL}/meetings/123" in event["DESCRIPTION"]


def test_organizer_is_the_requester_and_attendee_the_recipient() -> None:
    _, event, _ = parse(make_meeting())

    organizer, attendee = event["ORGANIZER"], event["ATTENDEE"]
    assert str(organizer) == "mailto:alice@example.test"
    assert organizer.params["CN"] == "Alice Requester"
    assert str(attendee) == "mailto:bob@example.test"
    assert attendee.params["CN"] == "Bob Recipient"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"


def test_cancel_keeps_the_uid_and_raises_the_sequence() -> None:
    _, request, _ = parse(make_meeting(sequence=0))
    calendar, cancel, _ = parse(make_meeting(sequence=1, was_confirmed=True), method="CANCEL")

    assert calendar["METHOD"] == "CANCEL"
    assert cancel["UID"] == request["UID"]
    assert cancel["SEQUENCE"] > request["SEQUENCE"]
    assert cancel["STATUS"] == "CANCELLED"


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL", "PUBLISH"])
@pytest.mark.parametrize("sequence", [0, 1, 4])
def test_the_sequence_is_the_meetings_own(method: str, sequence: int) -> None:
    _, event, _ = parse(make_meeting(sequence=sequence), method=method)

    assert event["SEQUENCE"] == sequence


@pytest.mark.parametrize(
    ("status", "partstat"),
    [("TENTATIVE", "NEEDS-ACTION"), ("CONFIRMED", "ACCEPTED"), ("CANCELLED", "ACCEPTED")],
)
def test_publish_states_the_meetings_status(status: str, partstat: str) -> None:
    calendar, event, _ = parse(make_meeting(reason="Ill"), method="PUBLISH", status=status)

    assert calendar["METHOD"] == "PUBLISH"
    assert event["UID"] == "meeting-MB-7Q4K-9X2P@meet.example.test"
    assert event["STATUS"] == status
    assert event["ATTENDEE"].params["PARTSTAT"] == partstat
    assert ("Reason: Ill" in event["DESCRIPTION"]) == (status == "CANCELLED")


def test_no_link_means_no_url_or_location() -> None:
    _, event, _ = parse(make_meeting(link=None))

    assert "URL" not in event
    assert "LOCATION" not in event


def test_times_are_converted_to_utc() -> None:
    kolkata = START.astimezone(ZoneInfo("Asia/Kolkata"))
    _, event, raw = parse(make_meeting(start=kolkata, end=kolkata + timedelta(hours=1)))

    assert b"DTSTART:20251215T140000Z" in raw
    assert event["DTSTART"].dt == START


def test_awkward_names_survive_as_parameters() -> None:
    name = 'Doe, "Jane";\r\nX-EVIL:1'
    _, event, raw = parse(make_meeting(requester_name=name))

    assert b"\r\nX-EVIL" not in raw
    assert event["ORGANIZER"].params["CN"] == 'Doe, "Jane"; X-EVIL:1'
    assert "X-EVIL" not in event


def test_dtstamp_is_injectable() -> None:
    _, event, _ = parse(make_meeting(), now=RENDER_NOW)

    assert event["DTSTAMP"].dt == RENDER_NOW
