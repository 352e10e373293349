"""Meeting start parsing: CONTRACT.md §1.1, "Date interpretation"."""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from meetbook.meetings.timeparse import (
    MeetingTimeError,
    is_valid_zone,
    parse_meeting_time,
    resolve_zone,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def parse(text: str, zone: ZoneInfo = NEW_YORK) -> datetime:
    return parse_meeting_time(text, zone, now=NOW)


def rejection(text: str, zone: ZoneInfo = NEW_YORK) -> str:
    with pytest.raises(MeetingTimeError) as caught:
        parse(text, zone)
    return str(caught.value)


# New York is UTC-5 in December, so 14:00 local is 19:00 UTC.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-15 14:00:00", utc(2025, 12, 15, 19)),
        ("2025-12-15 14:00", utc(2025, 12, 15, 19)),
        ("2025-12-15T14:00", utc(2025, 12, 15, 19)),
        ("2025-12-15T14:00:00", utc(2025, 12, 15, 19)),
        ("2025-12-15T14:00:00.000", utc(2025, 12, 15, 19)),
        ("2025-12-15T14:00:07.999999", utc(2025, 12, 15, 19, 0, 7)),
        ("2025-12-15t14:00:00", utc(2025, 12, 15, 19)),
        ("  2025-12-15 14:00  ", utc(2025, 12, 15, 19)),
        ("2025/12/15 14:00", utc(2025, 12, 15, 19)),
        ("2025.12.15 14:00", utc(2025, 12, 15, 19)),
        ("15 Dec 2025 14:00", utc(2025, 12, 15, 19)),
        ("December 15, 2025 2:00 PM", utc(2025, 12, 15, 19)),
        ("December 15, 2025 2 PM", utc(2025, 12, 15, 19)),
        ("Dec 15 2025 14:00", utc(2025, 12, 15, 19)),
        ("Dec 15th, 2025 at 2:30pm", utc(2025, 12, 15, 19, 30)),
        ("Monday, December 15, 2025 9:15 AM", utc(2025, 12, 15, 14, 15)),
        ("15 december 2025 14:00:30", utc(2025, 12, 15, 19, 0, 30)),
        # RFC 2822 without its zone is an English form: local time.
        ("Mon, 15 Dec 2025 14:00:00", utc(2025, 12, 15, 19)),
    ],
)
def test_local_forms_are_wall_clock_time_in_the_zone(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-15T14:00:00Z", utc(2025, 12, 15, 14)),
        ("2025-12-15T14:00:00z", utc(2025, 12, 15, 14)),
        ("2025-12-15T14:00:00.000Z", utc(2025, 12, 15, 14)),
        ("2025-12-15T14:00:00+05:30", utc(2025, 12, 15, 8, 30)),
        ("2025-12-15T14:00:00-08:00", utc(2025, 12, 15, 22)),
        ("2025-12-15T14:00+0530", utc(2025, 12, 15, 8, 30)),
        ("2025-12-15 14:00 +05:30", utc(2025, 12, 15, 8, 30)),
        ("2025-12-15 14:00 UTC", utc(2025, 12, 15, 14)),
        ("2025-12-15 14:00 GMT", utc(2025, 12, 15, 14)),
        ("Mon, 15 Dec 2025 14:00:00 +0000", utc(2025, 12, 15, 14)),
        ("Mon, 15 Dec 2025 14:00:00 +0530", utc(2025, 12, 15, 8, 30)),
        ("15 Dec 2025 14:00:00 -0800", utc(2025, 12, 15, 22)),
        ("Mon, 15 Dec 2025 14:00:00 GMT", utc(2025, 12, 15, 14)),
        ("Mon, 15 Dec 2025 14:00:00 UT", utc(2025, 12, 15, 14)),
        # RFC 5322: -0000 is UTC with the sender's own zone unknown, not local time.
        ("Mon, 15 Dec 2025 14:00:00 -0000", utc(2025, 12, 15, 14)),
        # (A weekday that contradicts the date is refused: test_contradicting_weekday.)
        ("15 Dec 2025 14:00 UTC", utc(2025, 12, 15, 14)),
        ("December 15, 2025 2:00 PM +05:30", utc(2025, 12, 15, 8, 30)),
        ("Dec 15 2025 14:00 Z", utc(2025, 12, 15, 14)),
    ],
)
def test_offsets_name_the_instant_whatever_the_zone(text: str, expected: datetime) -> None:
    assert parse(text, NEW_YORK) == expected
    assert parse(text, KOLKATA) == expected


def test_result_is_aware_utc_without_microseconds() -> None:
    start = parse("2025-12-15T14:00:05.75+01:00")
    assert start.tzinfo is UTC
    assert (start.second, start.microsecond) == (5, 0)


def test_half_hour_zone_shifts_by_its_offset() -> None:
    assert parse("2025-12-15 14:00", KOLKATA) == utc(2025, 12, 15, 8, 30)


def test_new_york_spring_forward_gap_is_rejected_naming_the_zone() -> None:
    message = rejection("2027-03-14 02:30", NEW_YORK)
    assert message.startswith("date ")
    assert "does not exist" in message
    assert "America/New_York" in message


def test_new_york_times_either_side_of_the_gap_are_accepted() -> None:
    assert parse("2027-03-14 01:59:59", NEW_YORK) == utc(2027, 3, 14, 6, 59, 59)
    assert parse("2027-03-14 03:00", NEW_YORK) == utc(2027, 3, 14, 7)


def test_new_york_fall_back_fold_is_the_earlier_instant() -> None:
    # 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    assert parse("2027-11-07 01:30", NEW_YORK) == utc(2027, 11, 7, 5, 30)


def test_lord_howe_half_hour_gap_is_rejected() -> None:
    # 2027-10-03 02:00 +10:30 jumps to 02:30 +11:00.
    message = rejection("2027-10-03 02:15", LORD_HOWE)
    assert "does not exist" in message
    assert "Australia/Lord_Howe" in message


def test_lord_howe_times_either_side_of_the_gap_are_accepted() -> None:
    assert parse("2027-10-03 01:59", LORD_HOWE) == utc(2027, 10, 2, 15, 29)
    assert parse("2027-10-03 02:30", LORD_HOWE) == utc(2027, 10, 2, 15, 30)


def test_lord_howe_half_hour_fold_is_the_earlier_instant() -> None:
    # 2027-04-04 02:00 +11:00 falls back to 01:30 +10:30, so 01:45 happens at 14:45
    # UTC and again at 15:15 UTC.
    assert parse("2027-04-04 01:45", LORD_HOWE) == utc(2027, 4, 3, 14, 45)


@pytest.mark.parametrize("name", [None, "", "Mars/Olympus_Mons", "america/new_york", "EST+5"])
def test_missing_or_unknown_zone_resolves_to_utc(name: str | None) -> None:
    zone = resolve_zone(name)
    assert zone.key == "UTC"
    assert parse("2025-12-15 14:00", zone) == utc(2025, 12, 15, 14)


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "America/../../../../etc/passwd",
        "America/New_York\x00",
        "\x00",
        "A" * 10_000,
        "America/" + "x" * 300,
        "America",
        "localtime",
        "right/UTC",
        " UTC",
    ],
)
def test_hostile_or_unlisted_zone_names_are_invalid_and_resolve_to_utc(name: str) -> None:
    assert not is_valid_zone(name)
    assert resolve_zone(name).key == "UTC"


@pytest.mark.parametrize("name", ["America/New_York", "Asia/Kolkata", "UTC", "Etc/GMT+5"])
def test_iana_zone_names_are_valid_and_resolve_to_themselves(name: str) -> None:
    assert is_valid_zone(name)
    assert resolve_zone(name).key == name


@pytest.mark.parametrize(
    "text",
    [
        "2025-05-31 23:59:59Z",
        "2025-06-01 00:00:00Z",
        "2025-06-01T00:00:00.999Z",  # truncated to the second, so equal to now
        "2025-05-31 20:00",  # 00:00 UTC in New York
        "2024-12-15 14:00",
        "15 Dec 1999 14:00",
        "Mon, 15 Dec 2003 14:00:00 +0000",
    ],
)
def test_start_at_or_before_now_is_rejected(text: str) -> None:
    assert "past" in rejection(text)


def test_first_second_after_now_is_accepted() -> None:
    assert parse("2025-06-01 00:00:01Z") == utc(2025, 6, 1, 0, 0, 1)


@pytest.mark.parametrize(
    "text",
    ["2025-12-15", "2025/12/15", "15 Dec 2025", "December 15, 2025", "Mon, 15 Dec 2025"],
)
def test_date_without_time_is_rejected(text: str) -> None:
    assert "no time of day" in rejection(text)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("15 December 14:00", "year"),
        ("December 2025 14:00", "day"),
        ("15 Dec 2025 14", "minute"),
    ],
)
def test_missing_component_is_rejected_naming_it(text: str, part: str) -> None:
    message = rejection(text)
    assert f"missing the {part}" in message


@pytest.mark.parametrize(
    "text",
    [
        "01/02/2026 10:00",
        "1.2.2026 10:00",
        "01-02-2026 10:00",
        "1/2/26 10:00",
        "12/15/2025 2:00 PM",  # could only be 15 December, still not guessed
        "15.12.2025 14:00",
        "Dec 01/02/2026 10:00",
    ],
)
def test_numeric_date_not_year_first_is_rejected_as_ambiguous(text: str) -> None:
    message = rejection(text)
    assert "ambiguous" in message
    assert "YYYY-MM-DD" in message


def test_two_digit_year_is_rejected() -> None:
    assert "four digits" in rejection("15 Dec 26 14:00")


@pytest.mark.parametrize(
    "text",
    [
        "15 Dec 2025 14:00 PST",  # RFC 2822 shape, read by email.utils
        "December 15, 2025 2:00 PM PST",  # read by dateutil
        "Dec 15 2025 14:00 EST",
        "2025-12-15 14:00 PST",
        "2025-12-15T14:00:00 IST",
        "Mon, 15 Dec 2025 14:00:00 EST",
        "15 Dec 2025 14:00 -0300 (BRST)",
    ],
)
def test_timezone_abbreviation_is_rejected_not_ignored(text: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dateutil's UnknownTimezoneWarning must not occur
        message = rejection(text)
    assert "abbreviation" in message


def test_abbreviation_of_the_servers_own_zone_is_rejected_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Left to itself dateutil reads a name in time.tzname as the host's local zone, so
    # the same request would mean different instants on differently configured servers.
    monkeypatch.setenv("TZ", "America/Chicago")
    time.tzset()
    try:
        assert "CST" in time.tzname
        assert "abbreviation" in rejection("December 15, 2025 2:00 PM CST")
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "text", ["15 Dec 2025 14:00 UTC+3", "15 Dec 2025 14:00 GMT-3", "2025-12-15 14:00 UTC +3"]
)
def test_zone_name_with_offset_is_rejected(text: str) -> None:
    # dateutil would read UTC+3 as three hours behind UTC, and "UTC +3" as UTC.
    assert "+03:00" in rejection(text)


@pytest.mark.parametrize(
    "text",
    [
        "14:00 PST",
        "14:00",
        "tomorrow 14:00",
        "next monday",
        "now",
        "hello",
        "2025-12-15 14",
        "2025-12-15T14",
        "2025/1/5 14:00",
        "2025-12-15 14:00 America/New_York",
        "20251215T140000",
        "1765825200",
        "Dec 15 2025 14.5",
        "Dec 15 2025 14:00 10",
        "2025-12-15 14:00:00 extra",
        "Mon, 15 Dec 2025 14:00:00 +2460",
        "15 Dec 2025 14:00 +0099",
        "15 Dec 2025 14:00 +99:00",
    ],
)
def test_unparseable_text_is_rejected(text: str) -> None:
    assert rejection(text).startswith("date ")


@pytest.mark.parametrize(
    "text",
    [
        "2025-13-01 10:00",
        "2025-02-29 10:00",
        "2025-12-32 10:00",
        "2025-12-15 24:00",
        "2025-12-15 14:60",
        "2025-12-15 14:00:60",
        "2025-12-15T14:00+24:00",
        "31 Feb 2026 10:00",
        "Mon, 31 Feb 2026 10:00:00 +0000",
    ],
)
def test_impossible_calendar_values_are_rejected(text: str) -> None:
    assert rejection(text).startswith("date ")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\t\n",
        "\x00",
        "2025-12-15\x0014:00",
        "\uff12\uff10\uff12\uff15-12-15 14:00",  # fullwidth digits
        "\u0662\u0660\u0662\u0665-12-15 14:00",  # Arabic-Indic digits
        "2025-12-15\u00a014:00",  # no-break space
    ],
)
def test_empty_or_non_date_characters_are_rejected(text: str) -> None:
    assert rejection(text).startswith("date ")


def test_text_longer_than_100_characters_is_rejected() -> None:
    padded = "2025-12-15 14:00".ljust(101)
    assert "too long" in rejection(padded)
    assert parse("2025-12-15 14:00".ljust(100)) == utc(2025, 12, 15, 19)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("9999-12-31 23:59:59", ZoneInfo("Pacific/Honolulu")),  # UTC would be year 10000
        ("9999-12-31T23:59:59-12:00", NEW_YORK),
        ("0001-01-01 00:00", ZoneInfo("Pacific/Kiritimati")),  # UTC would be year 0
        ("0001-01-01T00:00:00+14:00", NEW_YORK),
        ("9999-06-01 10:00", NEW_YORK),
        ("31 Dec 9999 23:59", ZoneInfo("Pacific/Honolulu")),
        ("Dec 15 10000 14:00", NEW_YORK),
        ("99999-12-15 14:00", NEW_YORK),
    ],
)
def test_dates_at_the_edge_of_the_calendar_raise_only_meeting_time_error(
    text: str, zone: ZoneInfo
) -> None:
    assert rejection(text, zone).startswith("date ")


def test_year_9998_is_still_accepted() -> None:
    assert parse("9998-12-31 12:00Z") == utc(9998, 12, 31, 12)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_meeting_time("2025-12-15 14:00", NEW_YORK, now=datetime(2025, 6, 1))


# Found by an independent oracle (issue 10) ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2031-06-17T10:00+05:60",
        "2031-06-17T10:00+0560",
        "2031-06-17 10:00:00 -03:75",
        "2031-06-17T10:00+24:00",
        "17 Jun 2031 10:00 +05:60",
        "Tue, 17 Jun 2031 10:00:00 +0560",
    ],
)
def test_offset_minutes_above_59_are_refused(text: str) -> None:
    # fromisoformat read +05:60 as +06:00: a typo moved the meeting by an hour.
    assert "invalid UTC offset" in rejection(text)


@pytest.mark.parametrize(
    "text",
    [
        "Wed, 17 Jun 2031 10:00",
        "Wed, 17 Jun 2031 10:00:00 +0000",
        "Wednesday, June 17, 2031 10:00",
        "wed 17 June 2031 10:00 UTC",
    ],
)
def test_contradicting_weekday(text: str) -> None:
    message = rejection(text)
    assert message.startswith("date says Wednesday, but 17 June 2031 is a Tuesday")
    assert "weekday does not match" in message


@pytest.mark.parametrize(
    "text",
    ["Tue, 17 Jun 2031 10:00", "Tuesday, June 17, 2031 10:00", "Tue, 17 Jun 2031 10:00 +0000"],
)
def test_a_matching_weekday_is_fine(text: str) -> None:
    assert parse(text, ZoneInfo("UTC")) == utc(2031, 6, 17, 10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2031-06-17 2:00 PM", utc(2031, 6, 17, 14)),
        ("2031-06-17 02:00 PM", utc(2031, 6, 17, 14)),
        ("2031-06-17 2:00 P.M.", utc(2031, 6, 17, 14)),
        ("2031-06-17 2:00 p.m.", utc(2031, 6, 17, 14)),
        ("2031-06-17 2 pm", utc(2031, 6, 17, 14)),
        ("2031-06-17T02:00PM", utc(2031, 6, 17, 14)),
        ("2031-06-17 12:30 AM", utc(2031, 6, 17, 0, 30)),
        ("2031-06-17 12:00 PM", utc(2031, 6, 17, 12)),
        ("2031-06-17 9:15:30 am +02:00", utc(2031, 6, 17, 7, 15, 30)),
        ("2031-06-17 2:00 PM UTC", utc(2031, 6, 17, 14)),
        ("June 17, 2031 2:00 P.M.", utc(2031, 6, 17, 14)),
    ],
)
def test_twelve_hour_times(text: str, expected: datetime) -> None:
    assert parse(text, ZoneInfo("UTC")) == expected


@pytest.mark.parametrize("text", ["2031-06-17 13:00 PM", "2031-06-17 0:30 AM"])
def test_a_twelve_hour_time_outside_1_to_12_is_refused_clearly(text: str) -> None:
    message = rejection(text)
    assert "12-hour clock goes from 1 to 12" in message
    assert "abbreviation" not in message


@pytest.mark.parametrize("name", ["Factory", "localtime", "posixrules", "Etc/Unknown"])
def test_names_that_are_no_place_are_not_zones(name: str) -> None:
    assert not is_valid_zone(name)
    assert resolve_zone(name).key == "UTC"


def test_zones_come_from_the_pinned_tzdata_package_not_the_host() -> None:
    import importlib.resources
    import zoneinfo

    import tzdata

    assert zoneinfo.TZPATH == ()
    packaged = importlib.resources.files("tzdata.zoneinfo") / "America" / "Vancouver"
    with packaged.open("rb") as data:
        expected = ZoneInfo.from_file(data)
    winter = datetime(2027, 1, 15, 12, tzinfo=UTC)
    vancouver = ZoneInfo("America/Vancouver")
    assert winter.astimezone(vancouver).utcoffset() == winter.astimezone(expected).utcoffset()
    host = Path("/usr/share/zoneinfo/tzdata.zi")
    if host.is_file():
        host_version = host.read_text().split("\n", 1)[0].removeprefix("# version ").strip()
        host_file = Path("/usr/share/zoneinfo/America/Vancouver")
        if host_version != tzdata.IANA_VERSION and host_file.is_file():
            # This machine (2025b against the pinned 2026f) disagrees for Vancouver from
            # November 2026; meetbook follows the package.
            with host_file.open("rb") as data:
                from_host = ZoneInfo.from_file(data)
            host_offset = winter.astimezone(from_host).utcoffset()
            if host_offset != winter.astimezone(expected).utcoffset():
                assert winter.astimezone(vancouver).utcoffset() != host_offset
