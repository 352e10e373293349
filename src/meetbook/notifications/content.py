"""What each notification says, independent of the channel that carries it.

Times are written by `meetbook.timeformat`, as on the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.units import format_unit

from meetbook.i18n import _, current_locale, speaking
from meetbook.timeformat import format_when_short

if TYPE_CHECKING:
    from meetbook.models import Meeting, User

Event = Literal[
    "meeting-created",
    "meeting-confirmed",
    "meeting-rejected",
    "meeting-cancelled",
    "meeting-proposed",
    "meeting-proposal-declined",
    "meeting-rescheduled",
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
    # A new time's notices (CONTRACT §1.6): `start` is the time the notice is about, and
    # this the time it replaces (proposed, rescheduled) ...
    previous_start: datetime | None = None
    # ... or the proposed time that was declined.
    proposed_start: datetime | None = None
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
        start_time: int | None = None,
        previous_start: int | None = None,
        proposed_start: int | None = None,
    ) -> MeetingInfo:
        """From the meeting's row and its participants' (what changed is the caller's;
        `start_time` overrides the row's start: a proposal is about another time)."""
        start = meeting.start_time if start_time is None else start_time
        return cls(
            id=meeting.id,
            booking_number=meeting.booking_number,
            requester_name=requester.name,
            requester_email=requester.email,
            recipient_name=recipient.name,
            recipient_email=recipient.email,
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(start + (meeting.end_time - meeting.start_time), UTC),
            link=meeting.link,
            reason=reason,
            was_confirmed=was_confirmed,
            sequence=sequence,
            previous_start=_instant(previous_start),
            proposed_start=_instant(proposed_start),
            title=meeting.title,
            notes=meeting.notes,
            team_id=meeting.team_id,
            recipient_id=meeting.recipient_id,
        )


def _instant(timestamp: int | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


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
    # Signs the email's Confirm/Reject/Propose links (meetings/answer_links.py), for the
    # events the reader answers; None: no links.
    answer_token: str | None = None
    to_locale: str = "en"  # the reader's language (meetbook.i18n.LOCALES)
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
    """`15 minutes`, `1 hour`, `2 days`, `1 Woche`: a reminder's lead time in words, in the
    current language (Babel's unit names)."""
    for size, unit in ((10080, "week"), (1440, "day"), (60, "hour")):
        if minutes % size == 0:
            return format_unit(
                minutes // size, f"duration-{unit}", length="long", locale=current_locale()
            )
    return format_unit(minutes, "duration-minute", length="long", locale=current_locale())


def push_message(notice: Notice) -> tuple[str, str, dict[str, str]]:
    """(title, body, data) for a push notification, in the reader's language; data values
    are strings, as FCM requires."""
    with speaking(notice.to_locale):
        return _push_message(notice)


def _push_message(notice: Notice) -> tuple[str, str, dict[str, str]]:
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
            body = _(
                "%(requester)s requested a meeting with you. Click to Confirm or Reject.",
                requester=requester,
            )
            return _("MEETING ALERT"), body, data
        case "meeting-confirmed":
            body = _(
                "Your meeting with %(other)s on %(when)s is confirmed.",
                other=other_party_name(notice),
                when=when,
            )
            return _("MEETING CONFIRMED"), body, data
        case "meeting-rejected":
            body = _(
                "%(actor)s rejected your meeting request for %(when)s.", actor=actor, when=when
            )
            return _("MEETING REJECTED"), body, data
        case "meeting-cancelled":
            body = _("%(actor)s cancelled the meeting on %(when)s.", actor=actor, when=when)
            return _("MEETING CANCELLED"), body, data
        case "meeting-proposed":
            body = _(
                "%(actor)s proposed another time for your meeting: %(when)s. Click to answer.",
                actor=actor,
                when=when,
            )
            return _("NEW TIME PROPOSED"), body, data
        case "meeting-proposal-declined":
            declined = meeting.proposed_start or meeting.start
            moved = format_when_short(declined, reader_zone(notice.to_timezone))
            body = _(
                "%(actor)s declined moving the meeting to %(moved)s; it stays on %(when)s.",
                actor=actor,
                moved=moved,
                when=when,
            )
            return _("NEW TIME DECLINED"), body, data
        case "meeting-rescheduled":
            body = _(
                "Your meeting with %(other)s moved to %(when)s.",
                other=other_party_name(notice),
                when=when,
            )
            return _("MEETING RESCHEDULED"), body, data
        case "meeting-expiring":
            requester = one_line(meeting.requester_name)
            body = _(
                "%(requester)s is still waiting for your answer to the meeting on %(when)s. "
                "Click to Confirm or Reject.",
                requester=requester,
                when=when,
            )
            return _("MEETING REQUEST WAITING"), body, data
        case "meeting-expired":
            body = _(
                "%(other)s did not answer your meeting request for %(when)s in time. "
                "Click to request again.",
                other=other_party_name(notice),
                when=when,
            )
            return _("MEETING REQUEST EXPIRED"), body, data
        case "meeting-reminder":
            other = other_party_name(notice)
            if notice.lead_minutes:
                body = _(
                    "Your meeting with %(other)s starts in %(lead)s, on %(when)s.",
                    other=other,
                    lead=lead_time(notice.lead_minutes),
                    when=when,
                )
            else:
                body = _("Your meeting with %(other)s starts on %(when)s.", other=other, when=when)
            if meeting.title:
                body = _("%(title)s: %(reminder)s", title=one_line(meeting.title), reminder=body)
            return _("MEETING REMINDER"), body, data
