"""The request form's "free times on a day" list: a teammate's free slots as links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.availability import service as availability
from meetbook.availability.calendar import CalendarRead
from meetbook.config import Settings
from meetbook.errors import ApiError
from meetbook.i18n import _
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import User
from meetbook.timeformat import format_time_range


@dataclass(frozen=True)
class FreeTime:
    label: str  # in the member's zone, as the form's date field reads
    viewer_label: str  # the same hour in the viewer's zone
    href: str  # the request form again, with the date filled in


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if len(text) <= 10 else None
    except ValueError:
        return None


async def free_times(
    session: AsyncSession,
    viewer: User,
    team_id: int,
    member_id: int,
    day: date,
    now: datetime,
    settings: Settings,
) -> tuple[list[FreeTime], str | None]:
    """The member's free one-hour slots on their local `day` (none unless both are
    members), and a sentence when their linked calendar could not be read."""
    member = await session.get(User, member_id)
    if member is None:
        return [], None
    zone = resolve_zone(member.timezone)
    viewer_zone = resolve_zone(viewer.timezone)
    try:
        start = datetime.combine(day, time(), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
        slots, read = await availability.free_slots(
            session, team_id, viewer, member_id, (start, end), now, settings
        )
    except (ApiError, OverflowError):  # not members (any more), or a day past 9999
        return [], None
    found = []
    for slot in slots:
        local = datetime.fromisoformat(str(slot["local_time"]))
        query = {
            "team": team_id,
            "member": member.id,
            "day": day.isoformat(),
            "date": f"{local:%Y-%m-%dT%H:%M}",
        }
        first, last = int(slot["start_time"]), int(slot["end_time"])
        found.append(
            FreeTime(
                label=format_time_range(first, last, zone),
                viewer_label=format_time_range(first, last, viewer_zone),
                href=f"/meetings/new?{urlencode(query)}#request-form",
            )
        )
    return found, _calendar_note(read, own=member.id == viewer.id)


def _calendar_note(read: CalendarRead, *, own: bool) -> str | None:
    """The page's sentence (in the viewer's language) when the calendar could not be read."""
    if read.message is None:
        return None
    reason = read.reason or _("it did not answer")
    if own:
        return _("Your calendar could not be read: %(reason)s.", reason=reason)
    return _("Their linked calendar could not be read: %(reason)s.", reason=reason)
