"""Properties of meeting start parsing over every zone the server knows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from meetbook.meetings.timeparse import MeetingTimeError, parse_meeting_time

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ZONES = sorted(available_timezones() - {"localtime"})
SETTINGS = settings(max_examples=200, deadline=None)


@dataclass(frozen=True)
class Transition:
    """A moment when a zone's UTC offset changes."""

    zone: str
    at: datetime  # first UTC second with the new offset
    before: timedelta
    after: timedelta


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _scan_transitions(start: datetime, end: datetime) -> list[Transition]:
    """Every offset change in every zone between start and end, to the second.

    Only uses the UTC → local direction of zoneinfo, which the parser under test never
    relies on alone, so the gaps and folds found here are an independent oracle.
    """
    step = timedelta(days=7)
    found = []
    for name in ZONES:
        zone = ZoneInfo(name)
        low = start
        low_offset = _offset(low, zone)
        while low < end:
            high = low + step
            high_offset = _offset(high, zone)
            if high_offset != low_offset:
                a, b = low, high
                while b - a > timedelta(seconds=1):
                    middle = a + timedelta(seconds=(b - a).total_seconds() // 2)
                    if _offset(middle, zone) == low_offset:
                        a = middle
                    else:
                        b = middle
                found.append(Transition(name, b, low_offset, _offset(b, zone)))
            low, low_offset = high, high_offset
    return found


TRANSITIONS = _scan_transitions(datetime(2026, 1, 1, tzinfo=UTC), datetime(2032, 1, 1, tzinfo=UTC))
GAPS = [t for t in TRANSITIONS if t.after > t.before]
FOLDS = [t for t in TRANSITIONS if t.after < t.before]


def test_the_scan_finds_the_known_transitions() -> None:
    # Guards the oracle itself: New York springs forward at 07:00 UTC on 2027-03-14,
    # Lord Howe moves by half an hour.
    assert (
        Transition(
            "America/New_York",
            datetime(2027, 3, 14, 7, tzinfo=UTC),
            timedelta(hours=-5),
            timedelta(hours=-4),
        )
        in GAPS
    )
    assert (
        Transition(
            "Australia/Lord_Howe",
            datetime(2027, 4, 3, 15, tzinfo=UTC),
            timedelta(hours=11),
            timedelta(hours=10, minutes=30),
        )
        in FOLDS
    )
    assert len({t.zone for t in GAPS}) > 100


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    aware = local.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local


def _earliest_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose wall time in `zone` is `local`."""
    candidates = [
        instant
        for fold in (0, 1)
        if (instant := local.replace(tzinfo=zone, fold=fold).astimezone(UTC))
        .astimezone(zone)
        .replace(tzinfo=None)
        == local
    ]
    return min(candidates)


local_times = st.datetimes(min_value=datetime(2025, 6, 3), max_value=datetime(9998, 12, 1)).map(
    lambda moment: moment.replace(microsecond=0)
)


def _near_transition(draw: st.DrawFn) -> tuple[str, datetime]:
    transition = draw(st.sampled_from(TRANSITIONS))
    shift = timedelta(seconds=draw(st.integers(-3 * 3600, 3 * 3600)))
    local = (transition.at + transition.before + shift).replace(tzinfo=None)
    return transition.zone, local


@st.composite
def zone_and_local_time(draw: st.DrawFn) -> tuple[str, datetime]:
    # Half anywhere, half within three hours of an offset change, where folds are.
    if draw(st.booleans()):
        return draw(st.sampled_from(ZONES)), draw(local_times)
    return _near_transition(draw)


@SETTINGS
@given(zone_and_local_time(), st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]))
def test_existing_local_time_parses_to_its_earliest_instant(
    case: tuple[str, datetime], layout: str
) -> None:
    name, local = case
    zone = ZoneInfo(name)
    assume(_exists(local, zone))  # the gap properties below cover the others
    start = parse_meeting_time(local.strftime(layout), zone, now=NOW)
    assert start.tzinfo is UTC
    assert start.astimezone(zone).replace(tzinfo=None) == local
    assert start == _earliest_instant(local, zone)


@SETTINGS
@given(
    st.sampled_from(ZONES),
    local_times,
    st.sampled_from(["%d %b %Y %H:%M:%S", "%B %d, %Y %I:%M:%S %p", "%a, %d %b %Y %H:%M:%S"]),
)
def test_english_forms_agree_with_iso(name: str, local: datetime, layout: str) -> None:
    zone = ZoneInfo(name)
    iso = local.strftime("%Y-%m-%d %H:%M:%S")
    english = local.strftime(layout)
    try:
        expected = parse_meeting_time(iso, zone, now=NOW)
    except MeetingTimeError:
        with pytest.raises(MeetingTimeError):
            parse_meeting_time(english, zone, now=NOW)
        return
    assert parse_meeting_time(english, zone, now=NOW) == expected


@SETTINGS
@given(st.sampled_from(FOLDS), st.data())
def test_repeated_local_time_is_the_earlier_instant(
    transition: Transition, data: st.DataObject
) -> None:
    zone = ZoneInfo(transition.zone)
    repeated = (transition.before - transition.after).seconds
    first = transition.at + transition.after  # the wall time right after falling back
    local = (first + timedelta(seconds=data.draw(st.integers(0, repeated - 1)))).replace(
        tzinfo=None
    )
    start = parse_meeting_time(local.isoformat(sep=" "), zone, now=NOW)
    # The first occurrence is still on the old offset, before the transition.
    assert start == (local - transition.before).replace(tzinfo=UTC)
    assert start < transition.at


@SETTINGS
@given(st.sampled_from(GAPS), st.data())
def test_local_time_in_a_gap_is_rejected_naming_the_zone(
    transition: Transition, data: st.DataObject
) -> None:
    zone = ZoneInfo(transition.zone)
    skipped = (transition.after - transition.before).seconds
    first = transition.at + transition.before  # the first wall time that is skipped
    local = (first + timedelta(seconds=data.draw(st.integers(0, skipped - 1)))).replace(tzinfo=None)
    with pytest.raises(MeetingTimeError) as caught:
        parse_meeting_time(local.isoformat(sep=" "), zone, now=NOW)
    assert "does not exist" in str(caught.value)
    assert transition.zone in str(caught.value)


@SETTINGS
@given(st.sampled_from(GAPS))
def test_wall_times_just_outside_a_gap_are_accepted(transition: Transition) -> None:
    zone = ZoneInfo(transition.zone)
    last_before = (transition.at + transition.before - timedelta(seconds=1)).replace(tzinfo=None)
    first_after = (transition.at + transition.after).replace(tzinfo=None)
    assert parse_meeting_time(str(last_before), zone, now=NOW) == transition.at - timedelta(
        seconds=1
    )
    assert parse_meeting_time(str(first_after), zone, now=NOW) == transition.at


def _parse_or_reject(text: str) -> None:
    try:
        start = parse_meeting_time(text, ZoneInfo("America/New_York"), now=NOW)
    except MeetingTimeError as error:
        assert str(error).startswith("date ")
    else:
        assert start.tzinfo is UTC
        assert start > NOW
        assert start.microsecond == 0


@SETTINGS
@given(st.text(max_size=120))
def test_arbitrary_text_only_ever_raises_meeting_time_error(text: str) -> None:
    _parse_or_reject(text)


DATE_TOKENS = [
    *"0123456789",
    "2025", "2027", "9999", "0001", "10000", "12", "15", "31", "00", "24", "60", "99",
    "-", "/", ".", ":", ",", "+", "T", "t", "Z", "z", " ", "  ", "(", ")",
    "-0500", "+05:30", "+14:00", "-0000", "+2400",
    "UTC", "GMT", "UT", "PST", "EST", "BRST", "IST",
    "Dec", "December", "sept", "Mon", "Friday", "PM", "am", "p.m.", "at", "th", "of",
    "1e5", "inf", "nan", "W", "99999999999999999999", "\x00", "\t", "é",
]  # fmt: skip


@SETTINGS
@given(
    st.lists(st.sampled_from(DATE_TOKENS), max_size=14),
    st.sampled_from(["", " "]),
)
def test_date_shaped_junk_only_ever_raises_meeting_time_error(
    tokens: list[str], joiner: str
) -> None:
    _parse_or_reject(joiner.join(tokens))


@SETTINGS
@given(st.from_regex(r"\d{1,5}[-/. ]\d{1,3}[-/. ]\d{1,5}[T ]\d{1,3}:\d{1,3}(:\d{1,3})?.{0,8}"))
def test_numeric_shaped_junk_only_ever_raises_meeting_time_error(text: str) -> None:
    _parse_or_reject(text)
