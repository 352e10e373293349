"""Small builders for notification inputs with fixed, readable defaults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from meetbook.notifications.content import Event, MeetingInfo, Notice

START = datetime(2025, 12, 15, 14, 0, tzinfo=UTC)  # 09:00 in New York, 19:30 in Kolkata
BASE_URL = "https://meet.example.test"
DOMAIN = "meet.example.test"
MAIL_FROM = "meetbook <no-reply@meet.example.test>"
RENDER_NOW = datetime(2025, 12, 10, 10, 30, tzinfo=UTC)


def make_meeting(**overrides: Any) -> MeetingInfo:
    meeting = MeetingInfo(
        id=123,
        booking_number="MB-7Q4K-9X2P",
        requester_name="Alice Requester",
        requester_email="alice@example.test",
        recipient_name="Bob Recipient",
        recipient_email="bob@example.test",
        start=START,
        end=START + timedelta(hours=1),
        link="https://zoom.us/j/1234567890",
        reason=None,
        was_confirmed=False,
        sequence=0,
    )
    return replace(meeting, **overrides)


def make_notice(event: Event, meeting: MeetingInfo | None = None, **overrides: Any) -> Notice:
    """The notice as the contract routes it: created → recipient, the rest → requester."""
    meeting = meeting or make_meeting()
    if event == "meeting-created":
        notice = Notice(
            event=event,
            meeting=meeting,
            to_name=meeting.recipient_name,
            to_email=meeting.recipient_email,
            to_timezone="America/New_York",
            actor_name=meeting.requester_name,
            notification_id=9001,
        )
    else:
        notice = Notice(
            event=event,
            meeting=meeting,
            to_name=meeting.requester_name,
            to_email=meeting.requester_email,
            to_timezone="Asia/Kolkata",
            actor_name=meeting.recipient_name,
            notification_id=9002,
        )
    return replace(notice, **overrides)


def golden_notice(event: Event) -> Notice:
    """The fixed inputs behind the golden files."""
    if event == "meeting-rejected":
        return make_notice(event, make_meeting(reason="I am travelling that week.\nSorry!"))
    if event == "meeting-cancelled":
        return make_notice(
            event, make_meeting(reason="Something came up.", was_confirmed=True, sequence=1)
        )
    later = {"start": START + timedelta(days=1), "end": START + timedelta(days=1, hours=1)}
    if event == "meeting-created":
        return make_notice(event, answer_token="TOKEN")
    if event == "meeting-proposed":  # the recipient's counter-proposal, to the requester
        meeting = make_meeting(**later, previous_start=START, reason="Mornings are full.")
        return make_notice(event, replace(meeting, sequence=1), answer_token="TOKEN")
    if event == "meeting-proposal-declined":
        meeting = make_meeting(proposed_start=START + timedelta(days=1), was_confirmed=True)
        return make_notice(event, replace(meeting, reason="I am out that day."))
    if event == "meeting-rescheduled":
        meeting = make_meeting(**later, previous_start=START, was_confirmed=True, sequence=1)
        return make_notice(event, meeting)
    if event in ("meeting-expiring", "meeting-expired", "meeting-reminder"):
        meeting = make_meeting(
            title="Quarterly review",
            notes="1. Numbers\n2. Next steps",
            team_id=4,
            recipient_id=8,
        )
        if event == "meeting-expiring":
            # The awaited participant: the recipient of the request.
            return make_notice(
                event,
                meeting,
                to_name=meeting.recipient_name,
                to_email=meeting.recipient_email,
                to_timezone="America/New_York",
                actor_name=meeting.requester_name,
            )
        return make_notice(event, meeting, lead_minutes=60 if event == "meeting-reminder" else None)
    return make_notice(event)
