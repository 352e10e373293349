"""iCalendar objects (RFC 5545 / iTIP RFC 5546): invites, cancellations, a meeting's .ics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from icalendar import PARTSTAT, ROLE, STATUS, Calendar, Event, vCalAddress

from meetbook.i18n import _
from meetbook.notifications.content import MeetingInfo, one_line

PRODID = "-//meetbook//meetbook//EN"
Method = Literal["REQUEST", "CANCEL", "PUBLISH"]
EventStatus = Literal["TENTATIVE", "CONFIRMED", "CANCELLED"]


def invite_uid(booking_number: str, domain: str) -> str:
    """The UID that ties a REQUEST and its later CANCEL to one calendar entry.

    From the booking number, which is random per meeting: a row id would repeat across
    installs and restored databases, and a calendar would take a new meeting for an old
    cancelled one.
    """
    return f"meeting-{booking_number}@{domain}"


def build_invite(
    meeting: MeetingInfo,
    *,
    method: Method,
    domain: str,
    base_url: str,
    now: datetime | None = None,
    status: EventStatus | None = None,
) -> bytes:
    """The iCalendar object for a meeting; `now` (DTSTAMP) is injectable for repeatable output.

    SEQUENCE is the meeting's own (the state machine raises it whenever the invite
    changes), so a CANCEL or a PUBLISH matches the REQUEST it follows. `status` is for
    PUBLISH; a REQUEST is CONFIRMED and a CANCEL CANCELLED.
    """
    cancel = method == "CANCEL"
    status = status or ("CANCELLED" if cancel else "CONFIRMED")
    meeting_url = f"{base_url.rstrip('/')}/meetings/{meeting.id}"
    # In the reader's language (meetbook.i18n): the email's, or the page's for a download.
    description = [
        _("Booking number: %(number)s", number=meeting.booking_number),
        _("Meeting page: %(url)s", url=meeting_url),
    ]
    if meeting.link:
        description.append(_("Meeting link: %(link)s", link=meeting.link))
    if status == "CANCELLED" and meeting.reason:
        description.append(_("Reason: %(reason)s", reason=meeting.reason))
    if meeting.notes:
        # The agenda first, as calendars show the start of a description; icalendar
        # escapes its line breaks, commas and semicolons (RFC 5545 §3.3.11).
        description.insert(0, f"{meeting.notes}\n")

    requester = one_line(meeting.requester_name)
    recipient = one_line(meeting.recipient_name)
    event = Event.new(
        uid=invite_uid(meeting.booking_number, domain),
        sequence=meeting.sequence,
        stamp=(now or datetime.now(UTC)).astimezone(UTC),
        start=meeting.start.astimezone(UTC),
        end=meeting.end.astimezone(UTC),
        summary=one_line(
            meeting.title
            or _(
                "Meeting: %(requester)s and %(recipient)s",
                requester=requester,
                recipient=recipient,
            )
        ),
        description="\n".join(description),
        organizer=vCalAddress.new(f"mailto:{meeting.requester_email}", cn=requester),
        attendees=[
            vCalAddress.new(
                f"mailto:{meeting.recipient_email}",
                cn=recipient,
                role=ROLE.REQ_PARTICIPANT,
                # The recipient accepted by confirming (a tentative one has yet to answer,
                # in meetbook); no RSVP is expected from the calendar.
                partstat=PARTSTAT.NEEDS_ACTION if status == "TENTATIVE" else PARTSTAT.ACCEPTED,
                rsvp=False,
            )
        ],
        status=STATUS(status),
        url=meeting.link or None,
        location=meeting.link or None,
    )
    # Calendar() rather than Calendar.new(): the latter adds a random calendar UID.
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
