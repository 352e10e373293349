"""How meetbook writes a time for people: the page, emails and push alike.

Every time is written in one named zone, and the zone is named by **one label**:

- the zone's abbreviation when tzdata gives it in letters (`EST`, `CEST`, `IST`, `UTC`),
  since that is how people in that zone write it;
- otherwise the UTC offset, `UTC+04:00`, `UTC−03:00` (a real minus sign), `UTC+05:45`.
  tzdata has no letters for most of the world's zones and then gives a bare `+04`,
  which reads as arithmetic rather than as a zone.

A range whose ends have different labels (the clocks change during the meeting) carries
each end's own label: `01:30 EST–03:30 EDT`, never `01:30–03:30 EDT`.

Day and month names, the order of day and month, and the 12- or 24-hour clock follow
the reader's language (`meetbook.i18n.current_locale()`), from Babel's CLDR data: German
`Mo., 15. Dez. 2025, 09:00 CET`, French `lun. 15 déc. 2025, 09:00 CET`. English keeps
meetbook's own patterns (`Mon 15 Dec 2025, 09:00`, a 24-hour clock), as it always wrote
them; a locale whose CLDR clock is 12-hour (`en_US`) gets `9:00 AM`. Never the process
locale. The zone label is not localised: it is the zone's own name or offset.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_skeleton
from babel.units import format_unit

from meetbook.i18n import current_locale, gettext


@dataclass(frozen=True)
class _Patterns:
    """CLDR patterns of one language; `None` means Babel's skeleton for the language."""

    date: str | None  # with the weekday: `Mon 15 Dec 2025`
    long_date: str | None  # `Monday 15 December 2025`
    short_date: str | None  # `15 Dec 2025`
    clock: str | None  # `09:00` or `9:00 AM`
    joiner: str | None  # date and time: `{1}, {0}`


_ENGLISH = _Patterns("EEE d MMM y", "EEEE d MMMM y", "d MMM y", "HH:mm", "{1}, {0}")
_FROM_CLDR = _Patterns(None, None, None, None, None)


@functools.cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def _patterns(locale: str) -> _Patterns:
    return _ENGLISH if locale == "en" else _FROM_CLDR


def _date(moment: datetime, kind: Literal["date", "long_date", "short_date"]) -> str:
    name = current_locale()
    wall = moment.replace(tzinfo=None)  # the wall clock of the zone already chosen
    pattern: str | None = getattr(_patterns(name), kind)
    if pattern is not None:
        return format_datetime(wall, pattern, locale=name)
    if kind == "long_date":
        return format_datetime(wall, _locale(name).date_formats["full"].pattern, locale=name)
    skeleton = {"date": "yMMMEd", "short_date": "yMMMd"}[kind]
    return format_skeleton(skeleton, wall, locale=name)


def format_clock(moment: datetime, locale: str | None = None) -> str:
    """`09:00` (or `9:00 AM` where the language's clock is 12-hour), without the zone;
    `locale` (any CLDR name) defaults to the reader's."""
    name = locale or current_locale()
    pattern = _patterns(name).clock or _locale(name).time_formats["short"].pattern
    return format_datetime(moment.replace(tzinfo=None), pattern, locale=name)


def _join(date: str, time: str) -> str:
    """The language's way of writing a date, then a time: `Mon 15 Dec 2025, 09:00`."""
    name = current_locale()
    joiner = _patterns(name).joiner or str(_locale(name).datetime_formats["medium"])
    return joiner.replace("{1}", date).replace("{0}", time)


def format_duration(minutes: int) -> str:
    """`1 hour`, `90 minutes`, `1 Stunde`: whole hours in hours, else minutes."""
    name = current_locale()
    if minutes and minutes % 60 == 0:
        return format_unit(minutes // 60, "duration-hour", length="long", locale=name)
    return format_unit(minutes, "duration-minute", length="long", locale=name)


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
    """`Mon 15 Dec 2025` (`Mo., 15. Dez. 2025`)."""
    return _date(moment, "date")


def day_label(ts: int, zone: ZoneInfo, now: datetime) -> str:
    """ "Today", "Tomorrow", "Yesterday" or the weekday and date, in `zone`."""
    day = local(ts, zone).date()
    today = now.astimezone(zone).date()
    names = {
        today: gettext("Today"),
        today + timedelta(days=1): gettext("Tomorrow"),
        today - timedelta(days=1): gettext("Yesterday"),
    }
    return names.get(day) or format_date(local(ts, zone))


def format_moment(ts: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00 EST`."""
    moment = local(ts, zone)
    return _join(format_date(moment), f"{format_clock(moment)} {zone_label(moment)}")


def _clock_range(first: datetime, last: datetime) -> str:
    """`09:00–10:00 EST`, or `01:30 EST–03:30 EDT` when the clocks change in between."""
    if zone_label(first) != zone_label(last):
        start, end = format_clock(first), format_clock(last)
        return f"{start} {zone_label(first)}\u2013{end} {zone_label(last)}"
    return f"{format_clock(first)}\u2013{format_clock(last)} {zone_label(last)}"


def format_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`Mon 15 Dec 2025, 09:00–10:00 EST`, or both ends in full when the day changes."""
    first, last = local(start, zone), local(end, zone)
    if first.date() != last.date():
        return f"{format_moment(start, zone)} \u2013 {format_moment(end, zone)}"
    return _join(format_date(first), _clock_range(first, last))


def format_time_range(start: int, end: int, zone: ZoneInfo) -> str:
    """`09:00–10:00 EST` (the day is written separately)."""
    return _clock_range(local(start, zone), local(end, zone))


def format_instant(moment: datetime, zone: ZoneInfo) -> str:
    return format_moment(int(moment.timestamp()), zone)


def format_when(moment: datetime, zone: ZoneInfo) -> str:
    """`Monday 15 December 2025, 09:00 EST (America/New_York)`, or `..., 14:00 UTC`."""
    moment = moment.astimezone(zone)
    text = _join(_date(moment, "long_date"), f"{format_clock(moment)} {zone_label(moment)}")
    return text if zone.key == "UTC" else f"{text} ({zone.key})"


def format_when_short(moment: datetime, zone: ZoneInfo) -> str:
    """`15 Dec 2025, 09:00 EST`: short enough for a subject line or a push body."""
    moment = moment.astimezone(zone)
    return _join(_date(moment, "short_date"), f"{format_clock(moment)} {zone_label(moment)}")
