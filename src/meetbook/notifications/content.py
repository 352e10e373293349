"""What each notification says, independent of the channel that carries it.

Times are written by `meetbook.timeformat`, as on the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from meetbook.timeformat import format_when_short

if TYPE_CHECKING:
    from meetbook.models import Meeting, User

Event = Literal[
    "meeting-created",
    "meeting-confirmed",
    "meeting-rejected",
    "meeting-cancelled",
    "meeting-expiring",
    "meeting-expired",
    "meeting-reminder",
]
EVENTS: tuple[Event, ...] = get_args(Event)


@dataclass(frozen=True)
class MeetingInfo:
    """The meeting as notifications need it; times are aware UTC."""

    id: int
    booking_number: str
    requester_name: str
    requester_email: str
    recipient_name: str
    recipient_email: str
    start: datetime
    end: datetime
    link: str | None
    reason: str | None
    # For cancellations: whether the meeting had been confirmed (so an invite must be withdrawn).
    was_confirmed: bool
    # ICS SEQUENCE: the meeting's after the change notified (0 for the first invite).
    sequence: int
    # The optional subject and agenda given at create (user text, already checked).
    title: str | None = None
    notes: str | None = None
    # For "request again" links: the meeting's team and recipient.
    team_id: int | None = None
    recipient_id: int | None = None

    @classmethod
    def of(
        cls,
        meeting: Meeting,
        requester: User,
        recipient: User,
        *,
        reason: str | None,
        was_confirmed: bool,
        sequence: int,
    ) -> MeetingInfo:
        """From the meeting's row and its participants' (what changed is the caller's)."""
        return cls(
            id=meeting.id,
            booking_number=meeting.booking_number,
            requester_name=requester.name,
            requester_email=requester.email,
            recipient_name=recipient.name,
            recipient_email=recipient.email,
            start=datetime.fromtimestamp(meeting.start_time, UTC),
            end=datetime.fromtimestamp(meeting.end_time, UTC),
            link=meeting.link,
            reason=reason,
            was_confirmed=was_confirmed,
            sequence=sequence,
            title=meeting.title,
            notes=meeting.notes,
            team_id=meeting.team_id,
            recipient_id=meeting.recipient_id,
        )


@dataclass(frozen=True)
class Notice:
    """One notification to one reader."""

    event: Event
    meeting: MeetingInfo
    to_name: str
    to_email: str
    to_timezone: str  # the reader's IANA zone, "UTC" as the fallback
    actor_name: str  # who caused the event
    notification_id: int  # stable per notification row
    # For reminders: how long before the start it was due.
    lead_minutes: int | None = None


UTC_ZONE = ZoneInfo("UTC")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """Collapse control characters and runs of whitespace into single spaces."""
    # Names are user input: a CR/LF must never start a new mail header, ICS property or push line.
    return " ".join(_CONTROL.sub(" ", text).split())


def reader_zone(name: str) -> ZoneInfo:
    """The reader's zone, or UTC when the name is not a valid IANA zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def other_party_name(notice: Notice) -> str:
    """The participant who is not the reader."""
    meeting = notice.meeting
    if notice.to_email.casefold() == meeting.requester_email.casefold():
        return one_line(meeting.recipient_name)
    return one_line(meeting.requester_name)


def lead_time(minutes: int) -> str:
    """`15 minutes`, `1 hour`, `90 minutes`, `2 days`: a reminder's lead time in words."""
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def push_message(notice: Notice) -> tuple[str, str, dict[str, str]]:
    """(title, body, data) for a push notification; data values are strings, as FCM requires."""
    meeting = notice.meeting
    when = format_when_short(meeting.start, reader_zone(notice.to_timezone))
    actor = one_line(notice.actor_name)
    data = {
        "type": notice.event,
        "meeting_id": str(meeting.id),
        "booking_number": meeting.booking_number,
    }
    match notice.event:
        case "meeting-created":
            requester = one_line(meeting.requester_name)
            body = f"{requester} requested a meeting with you. Click to Confirm or Reject."
            return "MEETING ALERT", body, data
        case "meeting-confirmed":
            body = f"Your meeting with {other_party_name(notice)} on {when} is confirmed."
            return "MEETING CONFIRMED", body, data
        case "meeting-rejected":
            return "MEETING REJECTED", f"{actor} rejected your meeting request for {when}.", data
        case "meeting-cancelled":
            return "MEETING CANCELLED", f"{actor} cancelled the meeting on {when}.", data
        case "meeting-expiring":
            requester = one_line(meeting.requester_name)
            body = (
                f"{requester} is still waiting for your answer to the meeting on {when}. "
                "Click to Confirm or Reject."
            )
            return "MEETING REQUEST WAITING", body, data
        case "meeting-expired":
            body = (
                f"{other_party_name(notice)} did not answer your meeting request for {when} "
                "in time. Click to request again."
            )
            return "MEETING REQUEST EXPIRED", body, data
        case "meeting-reminder":
            soon = f" in {lead_time(notice.lead_minutes)}" if notice.lead_minutes else ""
            body = f"Your meeting with {other_party_name(notice)} starts{soon}, on {when}."
            if meeting.title:
                body = f"{one_line(meeting.title)}: {body}"
            return "MEETING REMINDER", body, data
