"""The subscribable calendar feed: a user's meetings as one iCalendar (RFC 5545) file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from icalendar import STATUS, Calendar, Event

from meetbook.i18n import _
from meetbook.models import Meeting
from meetbook.notifications.content import one_line
from meetbook.notifications.ics import PRODID, invite_uid


def build_feed(
    meetings: Sequence[Meeting], names: Mapping[int, str], *, domain: str, base_url: str
) -> bytes:
    """Confirmed meetings as CONFIRMED events, pending ones as TENTATIVE, with the UIDs
    of the emailed invites so a calendar holding both shows one entry."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", "meetbook")
    for meeting in meetings:
        requester = one_line(names.get(meeting.requester_id, "?"))
        recipient = one_line(names.get(meeting.recipient_id, "?"))
        page = f"{base_url.rstrip('/')}/meetings/{meeting.id}"
        # In the feed owner's language (the route speaks it), like their emails.
        description = [
            _("Booking number: %(number)s", number=meeting.booking_number),
            _("Meeting page: %(url)s", url=page),
        ]
        if meeting.link:
            description.append(_("Meeting link: %(link)s", link=meeting.link))
        pending = meeting.status == "pending"
        summary = _(
            "Meeting: %(requester)s and %(recipient)s", requester=requester, recipient=recipient
        )
        if pending:
            summary = _("Requested: %(summary)s", summary=summary)
        calendar.add_component(
            Event.new(
                uid=invite_uid(meeting.booking_number, domain),
                # The invites' SEQUENCE, so a calendar holding both agrees which is newer.
                sequence=meeting.sequence,
                # The last change, not the time of the request: an unchanged feed is
                # byte-identical, which is what makes its ETag useful.
                stamp=meeting.updated_at.astimezone(UTC),
                start=datetime.fromtimestamp(meeting.start_time, UTC),
                end=datetime.fromtimestamp(meeting.end_time, UTC),
                summary=summary,
                description="\n".join(description),
                status=STATUS.TENTATIVE if pending else STATUS.CONFIRMED,
                url=meeting.link or None,
                location=meeting.link or None,
            )
        )
    data: bytes = calendar.to_ical()
    return data
