"""Date parsing against an independent oracle, over every tzdata zone and any future year.

tests/meetings/test_time_properties.py (a colleague's) already checks that an existing
local time parses to its earliest instant and that gaps are rejected. It has two holes
this file closes:

* its random local times `assume()` away the ones that do not exist, so "every
  non-existent local time is rejected" is only checked for the gaps its scan found,
  which stops in 2032: the years after 2037, where zoneinfo stops reading the
  transition table and computes from the zone's POSIX rule, were never tried;
* its existence oracle is the same round trip the parser uses.

Here the oracle only converts UTC to local time (the direction zoneinfo reads straight
from tzdata): the instants whose wall time is L are the `L - offset` for the offsets
the zone has around L that map back to L. A local time exists iff there is one; the
parser must return the earliest, or reject the time naming the zone when there is none.
The instant-first direction is checked too: any instant, written as wall time in any
zone, parses back to itself (or, in a repeated hour, to its earlier twin), and written
with its offset, to itself exactly.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from meetbook.meetings.timeparse import MeetingTimeError, parse_meeting_time

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ZONES = sorted(available_timezones() - {"localtime"})
PROPERTY = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAYOUTS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d %b %Y %H:%M:%S"]


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def instants_with_wall_time(local: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every UTC instant whose wall-clock time in `zone` is `local`, earliest first.

    Uses only UTC -> local. Offsets are sampled every 6 hours over two days around
    `local`, so any transition near it contributes both its offsets.
    """
    as_utc = local.replace(tzinfo=UTC)
    offsets = {_offset(as_utc + timedelta(hours=h), zone) for h in range(-48, 49, 6)}
    return sorted({as_utc - o for o in offsets if _wall(as_utc - o, zone) == local})


# Zones whose clocks still change every year under their current rule (checked in 2100,
# far past the explicit transitions, where only the POSIX rule speaks).
DST_ZONES = [
    name
    for name in ZONES
    if _offset(datetime(2100, 1, 15, tzinfo=UTC), ZoneInfo(name))
    != _offset(datetime(2100, 7, 15, tzinfo=UTC), ZoneInfo(name))
]


def _transitions_in(zone: ZoneInfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(first UTC second with the new offset, old offset, new offset) within `year`."""
    months = [datetime(year, m, 1, tzinfo=UTC) for m in range(1, 13)]
    months.append(datetime(year + 1, 1, 1, tzinfo=UTC))
    found = []
    for low, high in pairwise(months):
        before, after = _offset(low, zone), _offset(high, zone)
        if before == after:
            continue
        while high - low > timedelta(seconds=1):
            middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
            if _offset(middle, zone) == before:
                low = middle
            else:
                high = middle
        found.append((high, before, _offset(high, zone)))
    return found


@st.composite
def zone_and_local_time(draw: st.DrawFn) -> tuple[str, datetime]:
    """A third anywhere in any zone; two thirds within two hours of a clock change of a
    zone that has them, in any year up to 9997, where gaps and repeated hours are."""
    if draw(st.integers(0, 2)) == 0:
        local = draw(st.datetimes(min_value=datetime(2025, 6, 3), max_value=datetime(9998, 12, 1)))
        return draw(st.sampled_from(ZONES)), local.replace(microsecond=0)
    name = draw(st.sampled_from(DST_ZONES))
    year = draw(st.one_of(st.integers(2026, 2045), st.integers(2026, 9997)))
    transitions = _transitions_in(ZoneInfo(name), year)
    assert transitions, (name, year)
    at, before, _ = draw(st.sampled_from(transitions))
    shift = timedelta(seconds=draw(st.integers(-2 * 3600, 2 * 3600)))
    return name, (at + before + shift).replace(tzinfo=None)


def test_the_oracle_knows_a_gap_a_fold_and_the_far_future() -> None:
    new_york = ZoneInfo("America/New_York")
    assert instants_with_wall_time(datetime(2027, 3, 14, 2, 30), new_york) == []
    assert instants_with_wall_time(datetime(2027, 11, 7, 1, 30), new_york) == [
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),
        datetime(2027, 11, 7, 6, 30, tzinfo=UTC),
    ]
    # 2500: long past tzdata's explicit transitions; the POSIX rule still springs forward.
    assert instants_with_wall_time(datetime(2500, 3, 14, 2, 30), new_york) == []
    assert len(DST_ZONES) > 50
    assert "America/New_York" in DST_ZONES and "Asia/Tokyo" not in DST_ZONES


@PROPERTY
@given(zone_and_local_time(), st.sampled_from(LAYOUTS))
def test_a_local_time_parses_to_its_earliest_instant_iff_it_exists(
    case: tuple[str, datetime], layout: str
) -> None:
    name, local = case
    zone = ZoneInfo(name)
    instants = instants_with_wall_time(local, zone)
    text = local.strftime(layout)
    event({0: "gap", 1: "one instant", 2: "repeated hour"}[len(instants)])
    if not instants:
        with pytest.raises(MeetingTimeError) as caught:
            parse_meeting_time(text, zone, now=NOW)
        assert "does not exist" in str(caught.value)
        assert name in str(caught.value)
        return
    start = parse_meeting_time(text, zone, now=NOW)
    assert start.tzinfo is UTC
    assert start == instants[0]
    assert _wall(start, zone) == local


instants = st.datetimes(
    min_value=datetime(2025, 6, 3), max_value=datetime(9998, 12, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


@PROPERTY
@given(st.sampled_from(ZONES), instants)
def test_any_instant_round_trips_through_any_zone(name: str, instant: datetime) -> None:
    zone = ZoneInfo(name)
    wall = _wall(instant, zone)
    twins = instants_with_wall_time(wall, zone)
    assert instant in twins  # the oracle agrees with zoneinfo
    # As wall time: the instant itself, or in a repeated hour its earlier twin.
    assert parse_meeting_time(wall.isoformat(sep=" "), zone, now=NOW) == twins[0]
    # With its offset: exactly the instant, whatever the recipient's zone.
    local = instant.astimezone(zone)
    assert parse_meeting_time(local.isoformat(), ZoneInfo("UTC"), now=NOW) == instant
    assert parse_meeting_time(email.utils.format_datetime(local), zone, now=NOW) == instant


@PROPERTY
@given(st.sampled_from(DST_ZONES), st.integers(2026, 9997), st.data())
def test_every_second_of_every_gap_is_rejected(name: str, year: int, data: st.DataObject) -> None:
    zone = ZoneInfo(name)
    gaps = [(at, b, a) for at, b, a in _transitions_in(zone, year) if a > b]
    assert gaps, (name, year)
    at, before, after = data.draw(st.sampled_from(gaps))
    skipped = int((after - before).total_seconds())
    second = data.draw(st.integers(0, skipped - 1))
    local = (at + before + timedelta(seconds=second)).replace(tzinfo=None)
    with pytest.raises(MeetingTimeError, match="does not exist"):
        parse_meeting_time(local.isoformat(sep=" "), zone, now=NOW)
    # The seconds just outside the gap exist and are those instants.
    last_before = (at + before - timedelta(seconds=1)).replace(tzinfo=None)
    assert parse_meeting_time(str(last_before), zone, now=NOW) == at - timedelta(seconds=1)
    assert parse_meeting_time(str((at + after).replace(tzinfo=None)), zone, now=NOW) == at
