"""How meetbook writes a time for people: the page, emails and push alike.

Every time is written in one named zone, and the zone is named by **one label**:

- the zone's abbreviation when tzdata gives it in letters (`EST`, `CEST`, `IST`, `UTC`),
  since that is how people in that zone write it;
- otherwise the UTC offset, `UTC+04:00`, `UTC−03:00` (a real minus sign), `UTC+05:45`.
  tzdata has no letters for most of the world's zones and then gives a bare `+04`,
  which reads as arithmetic rather than as a zone.

A range whose ends have different labels (the clocks change during the meeting) carries
each end's own label: `01:30 EST–03:30 EDT`, never `01:30–03:30 EDT`.

Day and month names come from the tables below, never from the process locale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def offset_label(offset: timedelta | None) -> str:
    """`UTC+05:30`, `UTC−05:00` (with a real minus sign), `UTC+00:00`."""
    seconds = int((offset or timedelta()).total_seconds())
    sign = "+" if seconds >= 0 else "\u2212"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def zone_offset(zone: ZoneInfo, at: datetime | None = None) -> str:
    """The zone's UTC offset at `at` (default: now), as `offset_label` writes it."""
    moment = (at or datetime.now(UTC)).astimezone(zone)
    return offset_label(moment.utcoffset())


def zone_label(moment: datetime) -> str:
    """The label of an aware moment's zone at that moment: `EST`, or `UTC+04:00`."""
    name = moment.tzname() or ""
    if name.isascii() and name.isalpha():
        return name
    return offset_label(moment.utcoffset())


def local(ts: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone)


def format_date(moment: datetime) -> str:
    """`Mon 15 Dec 2025`."""
    return (
        f"{_DAYS[moment.weekday()][:3]} {moment.day} {_MONTHS[moment.month - 1][:3]} {moment.year}"
    )


def day_label(ts: int, zone: ZoneInfo, now: datetime) -> str:
    """ "Today", "Tomorrow", "Yesterday" or the weekday and date, in `zone`."""
    day = local(ts, zone).date()
    today = now.astimezone(zone).date()
    names = {
        today: "Today",
        today + timedelta(days=1): "Tomorrow",
        today - timedelta(days=1): "Yesterday",
    }
    return names.get(day) or format_date(local(ts, zone))


def format_moment(ts: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00 EST`."""
    moment = local(ts, zone)
    return f"{format_date(moment)}, {moment:%H:%M} {zone_label(moment)}"


def _clock_range(first: datetime, last: datetime) -> str:
    """`09:00–10:00 EST`, or `01:30 EST–03:30 EDT` when the clocks change in between."""
    if zone_label(first) != zone_label(last):
        return f"{first:%H:%M} {zone_label(first)}\u2013{last:%H:%M} {zone_label(last)}"
    return f"{first:%H:%M}\u2013{last:%H:%M} {zone_label(last)}"


def format_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00–10:00 EST`, or both ends in full when the day changes."""
    first, last = local(start, zone), local(end, zone)
    if first.date() != last.date():
        return f"{format_moment(start, zone)} \u2013 {format_moment(end, zone)}"
    return f"{format_date(first)}, {_clock_range(first, last)}"


def format_time_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`09:00–10:00 EST` (the day is written separately)."""
    return _clock_range(local(start, zone), local(end, zone))


def format_instant(moment: datetime, zone: ZoneInfo) -> str:
    return format_moment(int(moment.timestamp()), zone)


def format_when(moment: datetime, zone: ZoneInfo) -> str:
    """`Monday 15 December 2025, 09:00 EST (America/New_York)`, or `..., 14:00 UTC`."""
    moment = moment.astimezone(zone)
    text = f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}, "
    text += f"{moment:%H:%M} {zone_label(moment)}"
    return text if zone.key == "UTC" else f"{text} ({zone.key})"


def format_when_short(moment: datetime, zone: ZoneInfo) -> str:
    """`15 Dec 2025, 09:00 EST`: short enough for a subject line or a push body."""
    moment = moment.astimezone(zone)
    month = _MONTHS[moment.month - 1][:3]
    return f"{moment.day} {month} {moment.year}, {moment:%H:%M} {zone_label(moment)}"
