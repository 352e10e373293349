"""Turn the `date` string of a meeting request into the instant the meeting starts.

The rules are CONTRACT.md §1.1 ("Date interpretation"):

* A string without an offset is wall-clock time in the recipient's zone; a string with
  an offset (or `Z`, `UTC`, `GMT`) is that instant.
* Accepted: ISO 8601 / RFC 3339 date-times (`datetime.fromisoformat`), RFC 2822
  (`email.utils`) and English forms with a month name (`dateutil.parser`), such as
  `15 Dec 2025 14:00` or `December 15, 2025 2:00 PM`.
* A numeric date is accepted only year-first (`2025-12-15`, also `2025/12/15` and
  `2025.12.15`). Every other numeric date (`01/02/2026`, `1.2.2026`, `01-02-2026`) is
  rejected, even when it could only mean one thing (`12/15/2025`): one simple rule is
  easier to explain than "sometimes we guess".
* The year, month, day, hour and minute must all be written (seconds are optional;
  `2 PM` counts as 14:00). The year needs four digits.
* A 12-hour time may follow an ISO date (`2025-12-15 2:00 PM`); `P.M.` is `PM`.
* A weekday, when written, must be the date's (`Wed, 17 Jun 2031` is refused: that day
  is a Tuesday, and either part may be the mistake).
* UTC offsets have hours up to 23 and minutes up to 59 (`+05:60` is refused, not read
  as +06:00).
* Timezone abbreviations other than UTC/GMT/UT/Z are rejected: `PST`, `IST` or `CST`
  each mean several offsets, and dateutil would otherwise drop them with a warning.
* A local time that does not exist in the zone (a DST gap) is rejected; a local time
  that happens twice (DST fall-back) is the earlier instant.
* The result is UTC, truncated to the second, and must lie after `now`.

Every rejection is a `MeetingTimeError` whose text names `date` and says why.
"""

from __future__ import annotations

import email.utils
import functools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from dateutil import parser as dateutil_parser

__all__ = ["MeetingTimeError", "is_valid_zone", "parse_meeting_time", "resolve_zone"]

MAX_DATE_LENGTH = 100
# The last start we accept. Later ones could not have their end (start + 1 hour) or a
# reminder computed without overflowing `datetime`, and nobody books that far ahead.
LATEST_START = datetime(9999, 1, 1, tzinfo=UTC)

_UTC_ZONE = ZoneInfo("UTC")
_UTC_NAMES = frozenset({"UTC", "GMT", "UT", "Z"})
# Names that zone databases list but that are no place: `localtime` and `posixrules`
# (links to the host's own zone on Debian-like systems, different on every server),
# `Factory` (a placeholder whose abbreviation reads "-00") and `Etc/Unknown`.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory", "Etc/Unknown"})
_MAX_ZONE_NAME_LENGTH = 64

_EXAMPLE = "2025-12-15 14:00 or 2025-12-15T14:00:00+01:00"

# A year-first numeric date, then a time with minutes, optional seconds and fraction,
# optional offset or zone name. The numbers themselves are checked by fromisoformat.
_ISO = re.compile(
    r"(?P<date>\d{4}(?P<sep>[-/.])\d{2}(?P=sep)\d{2})"
    r"(?:[Tt]|\s+)"
    r"(?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)"
    r"\s*(?P<zone>[+-]\d{2}(?::?\d{2})?|[A-Za-z]+)?",
    re.ASCII,
)
# An ISO date followed by a 12-hour time: `2025-12-15 2:00 PM`, `2025-12-15 2 PM`.
_ISO_12_HOUR = re.compile(
    r"(?P<date>\d{4}(?P<sep>[-/.])\d{2}(?P=sep)\d{2})"
    r"(?:[Tt]|\s+)"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?"
    r"\s*(?P<half>[AaPp][Mm])(?![A-Za-z])"
    r"(?:\s*(?P<zone>[+-]\d{2}(?::?\d{2})?|[A-Za-z]+))?",
    re.ASCII,
)
# `p.m.`, `P. M.`: written with dots dateutil reads the M as a timezone abbreviation.
_DOTTED_AM_PM = re.compile(r"(?<![A-Za-z])([AaPp])\.\s?([Mm])\.?(?![A-Za-z])", re.ASCII)
_WEEKDAY = re.compile(
    r"(?<![A-Za-z])(?P<day>mon|tue|wed|thu|fri|sat|sun)"
    r"(?:day|s|sday|nesday|r|rs|rsday|urday)?\.?(?![A-Za-z])",
    re.ASCII | re.IGNORECASE,
)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DATE_ONLY = re.compile(r"\d{4}([-/.])\d{2}\1\d{2}", re.ASCII)
# RFC 2822 section 3.3 with the zone it requires. Without a zone the string is handled
# as an English form, that is, as local time.
_RFC2822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun)\s*,\s*)?"
    r"\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+\d{4}\s+"
    r"\d{2}:\d{2}(?::\d{2})?\s+"
    r"(?P<zone>[+-]\d{4}|[A-Za-z]+)",
    re.ASCII | re.IGNORECASE,
)
# Three numbers joined by the same separator: a numeric date. Reaching this pattern
# means the string was not a year-first ISO date.
_NUMERIC_DATE = re.compile(r"(?<!\d)\d{1,4}([-/.])\d{1,2}\1\d{1,4}(?!\d)", re.ASCII)
_MONTH_NAME = re.compile(
    r"(?<![A-Za-z])(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
    r"(?:uary|ruary|ch|il|e|y|ust|ember|ober)?(?![A-Za-z])",
    re.ASCII | re.IGNORECASE,
)
# dateutil reads `UTC+3` the POSIX way, as three hours *behind* UTC, and `UTC +3` as
# plain UTC; people mean three hours ahead. Refuse rather than pick one.
_ZONE_NAME_WITH_OFFSET = re.compile(
    r"(?<![A-Za-z])(?:UTC|GMT|UT|Z)\s*[+-]", re.ASCII | re.IGNORECASE
)
_TRAILING_OFFSET = re.compile(r"[+-]\d{2}:?(?P<minutes>\d{2})\s*$", re.ASCII)
_DECIMAL_NUMBER = re.compile(r"(?<![:\d])\d+\.\d", re.ASCII)
_AM_PM = re.compile(r"\d\s*[ap]\.?m(?![A-Za-z])", re.ASCII | re.IGNORECASE)
_DIGIT_RUN = re.compile(r"\d+", re.ASCII)

# Two default datetimes that differ in every component we require. dateutil fills
# what the string leaves out from the default, so a component on which the two parses
# disagree was missing from the string.
_DEFAULTS = (datetime(2001, 1, 1, 1, 1), datetime(2002, 2, 2, 2, 2))
_REQUIRED = ("year", "month", "day", "hour", "minute")


class MeetingTimeError(ValueError):
    """The date string cannot be a meeting start; str(err) is a sentence for the API user,
    naming `date`."""


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def is_valid_zone(name: str) -> bool:
    """Whether `name` is an IANA zone this server knows.

    Only names from `zoneinfo.available_timezones()` pass, so a hostile string (a path,
    a NUL byte, a huge name) never reaches the filesystem.
    """
    return isinstance(name, str) and len(name) <= _MAX_ZONE_NAME_LENGTH and name in _known_zones()


def resolve_zone(name: str | None) -> ZoneInfo:
    """The recipient's effective zone: the IANA zone named, or UTC when missing/invalid
    (never raises)."""
    if name is None or not is_valid_zone(name):
        return _UTC_ZONE
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # Listed but unreadable (a damaged tzdata file): the contract's fallback.
        return _UTC_ZONE


def parse_meeting_time(text: str, zone: ZoneInfo, *, now: datetime) -> datetime:
    """Return the meeting start as an aware UTC datetime truncated to the second.

    `now` is an aware UTC datetime; a start at or before `now` raises MeetingTimeError.
    """
    if now.tzinfo is None:
        raise TypeError("now must be an aware datetime")
    parsed = _parse(text)
    aware = _to_local_instant(parsed, zone) if parsed.tzinfo is None else parsed
    try:
        start = aware.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise _out_of_range() from None
    if start >= LATEST_START:
        raise MeetingTimeError("date is too far in the future.")
    if start <= now:
        raise MeetingTimeError("date is in the past; a meeting must start in the future.")
    return start


def _parse(raw: str) -> datetime:
    """The date-time written in `raw`: aware if it carries an offset, else naive."""
    if len(raw) > MAX_DATE_LENGTH:
        raise MeetingTimeError(f"date is too long (at most {MAX_DATE_LENGTH} characters).")
    text = raw.strip()
    if not text:
        raise MeetingTimeError(f"date must be a date and time, like {_EXAMPLE}.")
    if not (text.isascii() and text.isprintable()):
        raise MeetingTimeError(
            f"date contains characters that do not belong in a date and time; "
            f"write it like {_EXAMPLE}."
        )
    if _ZONE_NAME_WITH_OFFSET.search(text):
        raise MeetingTimeError(
            "date combines a zone name with an offset (like UTC+3), which systems read "
            "differently; write only the offset, such as +03:00."
        )
    if _DATE_ONLY.fullmatch(text):
        raise MeetingTimeError(f"date has no time of day; write it like {_EXAMPLE}.")
    text = _DOTTED_AM_PM.sub(r"\1\2", text)
    # Before _ISO, whose trailing zone name would otherwise take "PM" for a zone.
    if iso := _ISO_12_HOUR.fullmatch(text):
        return _parse_iso_12_hour(iso)
    if iso := _ISO.fullmatch(text):
        return _parse_iso(iso)
    if rfc := _RFC2822.fullmatch(text):
        return _check_weekday(text, _parse_rfc2822(text, rfc.group("zone")))
    if numeric := _NUMERIC_DATE.search(text):
        if len(numeric.group().split(numeric.group(1))[0]) == 4:
            # Year-first, but not in a shape we read (`2025/1/5`, `2025-12-15 14h`).
            raise _not_understood()
        raise MeetingTimeError(
            "date has a numeric date that is not year-first, so its day and month order "
            "is ambiguous (01/02/2026 could be 1 February or 2 January); write it as "
            "YYYY-MM-DD, for example 2026-02-01 10:00."
        )
    if _MONTH_NAME.search(text):
        return _check_weekday(text, _parse_english(text))
    raise _not_understood()


def _parse_iso(match: re.Match[str]) -> datetime:
    return _iso_datetime(match.group("date"), match.group("sep"), match.group("time"), match)


def _parse_iso_12_hour(match: re.Match[str]) -> datetime:
    hour, half = int(match.group("hour")), match.group("half").upper()
    if not 1 <= hour <= 12:
        raise MeetingTimeError(
            f"date has the hour {hour} with {half}, but a 12-hour clock goes from 1 to 12; "
            "write the hour 0 to 23 without AM or PM instead."
        )
    hour = hour % 12 + (12 if half == "PM" else 0)
    time = f"{hour:02d}:{match.group('minute') or '00'}"
    if match.group("second"):
        time += f":{match.group('second')}"
    return _iso_datetime(match.group("date"), match.group("sep"), time, match)


def _iso_datetime(date: str, sep: str, time: str, match: re.Match[str]) -> datetime:
    zone = match.group("zone") or ""
    if zone.isalpha():
        _check_zone_name(zone)
        zone = "+00:00"
    elif zone and (int(zone[1:3]) > 23 or (len(zone) > 3 and int(zone[-2:]) > 59)):
        # fromisoformat reads +05:60 as +06:00; a typo should not move the meeting.
        raise MeetingTimeError(
            f"date has an invalid UTC offset {zone}: hours go up to 23 and minutes up to 59."
        )
    date = date.replace(sep, "-")
    try:
        return datetime.fromisoformat(f"{date}T{time}{zone}")
    except ValueError:
        raise MeetingTimeError(
            "date is not a real calendar date and time (check the month, day, hour, "
            "minute and offset)."
        ) from None


def _parse_rfc2822(text: str, zone: str) -> datetime:
    if zone.isalpha():
        _check_zone_name(zone)
    elif int(zone[1:3]) > 23 or int(zone[3:]) > 59:
        raise MeetingTimeError(f"date has an invalid UTC offset {zone}.")
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, OverflowError):
        raise MeetingTimeError(
            "date is not a real calendar date and time (check the day, month and time)."
        ) from None
    # RFC 5322 §3.3: "-0000" is a time in UTC whose sender's zone is unknown;
    # email.utils returns it naive, which here would mean the recipient's zone.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _parse_english(text: str) -> datetime:
    if (offset := _TRAILING_OFFSET.search(text)) and int(offset.group("minutes")) > 59:
        raise MeetingTimeError("date has an invalid UTC offset.")
    if _DECIMAL_NUMBER.search(text):
        raise _not_understood()
    try:
        first, second = (
            dateutil_parser.parse(text, default=default, tzinfos=_dateutil_zone)
            for default in _DEFAULTS
        )
    except MeetingTimeError:
        raise
    except (ValueError, OverflowError):
        raise _not_understood() from None

    missing = [part for part in _REQUIRED if getattr(first, part) != getattr(second, part)]
    if missing == ["minute"] and _AM_PM.search(text):
        # "2 PM" names the hour on a 12-hour clock; the minute is :00 by convention.
        return first.replace(minute=0)
    if "hour" in missing:
        raise MeetingTimeError(f"date has no time of day; write it like {_EXAMPLE}.")
    if missing:
        raise MeetingTimeError(
            f"date is missing the {' and '.join(missing)}; write the full date and time, "
            f"like {_EXAMPLE}."
        )
    # dateutil turns "25" into 2025 relative to today's date; a meeting date should not
    # depend on when it is read.
    if not any(len(run) == 4 and int(run) == first.year for run in _DIGIT_RUN.findall(text)):
        raise MeetingTimeError("date must write the year with four digits, for example 2026.")
    return first


def _check_weekday(text: str, parsed: datetime) -> datetime:
    """Refuse a written weekday that is not the date's: one of the two is a mistake."""
    match = _WEEKDAY.search(text)
    if match is not None:
        written = _WEEKDAYS.index(match.group("day").lower())
        if written != parsed.weekday():
            raise MeetingTimeError(
                f"date says {_DAY_NAMES[written]}, but {parsed:%-d %B %Y} is a "
                f"{_DAY_NAMES[parsed.weekday()]}: the weekday does not match the date; "
                "check which one is right."
            )
    return parsed


_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _dateutil_zone(name: str | None, offset: int | None) -> tzinfo | None:
    """The zone for what dateutil found after the time.

    Passing a function (rather than nothing) also stops dateutil from reading a name
    that matches the *server's* local zone (`time.tzname`) as that zone.
    """
    if name is not None:
        # dateutil has already turned Z into UTC and set a UTC name's offset to 0.
        _check_zone_name(name)
        return UTC
    if offset is None:
        return None
    if abs(offset) >= 24 * 3600:
        raise MeetingTimeError("date has an invalid UTC offset.")
    return timezone(timedelta(seconds=offset))


def _check_zone_name(name: str) -> None:
    if name.upper() not in _UTC_NAMES:
        raise MeetingTimeError(
            f"date uses the timezone abbreviation {name[:10]!r}, which meetbook does not "
            "guess (abbreviations such as CST or IST mean several offsets); write a UTC "
            "offset such as -05:00 instead, or none to use the recipient's timezone."
        )


def _to_local_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """`local` (naive wall-clock time) as an aware datetime in `zone`.

    Raises MeetingTimeError when the clocks in `zone` skip over `local`.
    """
    # fold=0 is the earlier of the two instants when the wall time happens twice (PEP
    # 495). The contract picks the earlier one: a meeting asked for "01:30" on the
    # fall-back night then starts at the first 01:30, never an hour after the requester
    # expected it to have begun.
    aware = local.replace(tzinfo=zone, fold=0)
    # In a gap zoneinfo still answers (with the offset from before the jump), so the
    # only reliable test is the round trip: a real wall time comes back unchanged.
    try:
        back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        raise _out_of_range() from None
    if back != local:
        raise MeetingTimeError(
            f"date {local:%Y-%m-%d %H:%M:%S} does not exist as a local time in {zone.key} "
            "(the clocks skip over it, for example when daylight saving time starts); "
            "pick another time."
        )
    return aware


def _out_of_range() -> MeetingTimeError:
    return MeetingTimeError("date is outside the range of dates meetbook can store.")


def _not_understood() -> MeetingTimeError:
    return MeetingTimeError(
        f"date is not a date and time meetbook understands; write it like {_EXAMPLE}."
    )
