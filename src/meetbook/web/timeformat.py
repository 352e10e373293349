"""How the page writes times: always in one named zone, e.g. "Mon 15 Dec 2025, 09:00 EST"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


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


def _abbreviation(moment: datetime) -> str:
    # Many zones have no letters abbreviation; tzdata then gives "+04", which reads
    # better as an offset.
    name = moment.tzname() or ""
    if not name or name[0] in "+-":
        return offset_label(moment.utcoffset())
    return name


def local(ts: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone)


def day_label(ts: int, zone: ZoneInfo, now: datetime) -> str:
    """ "Today", "Tomorrow", "Yesterday" or the weekday and date, in `zone`."""
    day = local(ts, zone).date()
    today = now.astimezone(zone).date()
    names = {
        today: "Today",
        today + timedelta(days=1): "Tomorrow",
        today - timedelta(days=1): "Yesterday",
    }
    return names.get(day) or local(ts, zone).strftime("%a %-d %b %Y")


def format_moment(ts: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00 EST`."""
    moment = local(ts, zone)
    return f"{moment:%a %-d %b %Y, %H:%M} {_abbreviation(moment)}"


def format_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00–10:00 EST`, or both ends in full when the day changes."""
    first, last = local(start, zone), local(end, zone)
    if first.date() != last.date():
        return f"{format_moment(start, zone)} \u2013 {format_moment(end, zone)}"
    if _abbreviation(first) != _abbreviation(last):  # the clocks change during the meeting
        start_text = f"{first:%a %-d %b %Y, %H:%M} {_abbreviation(first)}"
        return f"{start_text}\u2013{last:%H:%M} {_abbreviation(last)}"
    return f"{first:%a %-d %b %Y, %H:%M}\u2013{last:%H:%M} {_abbreviation(last)}"


def format_time_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`09:00–10:00 EST` (the day is written separately)."""
    first, last = local(start, zone), local(end, zone)
    return f"{first:%H:%M}\u2013{last:%H:%M} {_abbreviation(last)}"


def format_instant(moment: datetime, zone: ZoneInfo) -> str:
    return format_moment(int(moment.timestamp()), zone)
