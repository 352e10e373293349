"""Working hours as instants, and the free one-hour slots inside them.

Working hours are local wall-clock intervals per weekday, so each day is turned into
instants with that day's own offset: 09:00-17:00 is 8 hours on the day the clocks
change, as on every other day. Pure functions; the database is read by service.py.

Slots start on the member's local :00 and :30 (in a zone such as Asia/Kathmandu, +05:45,
that is UTC :15 and :45), because that is what the member reads as "on the hour". A
local start the clocks skip (DST gap) is no slot; in the hour that happens twice only
the earlier occurrence is offered (the contract's rule for ambiguous times).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from meetbook.availability.schemas import WEEKDAYS

SLOT = timedelta(hours=1)
STEP = timedelta(minutes=30)
_SLOTS_PER_DAY = 48

Window = tuple[datetime, datetime]
# {"mon": [["09:00", "17:00"]], ...}: local intervals per weekday.
WeekHours = Mapping[str, Sequence[Sequence[str]]]


def local_instant(day: date, hhmm: str, zone: ZoneInfo) -> datetime:
    """`hhmm` on local `day` in `zone`, as aware UTC; "24:00" is the next midnight.

    A time inside a DST gap maps to the instant the clocks jump to (fold=0 reads it with
    the offset from before the jump), so an interval starting in the gap starts there.
    """
    if hhmm == "24:00":
        day, hhmm = day + timedelta(days=1), "00:00"
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)


def day_windows(week: WeekHours, zone: ZoneInfo, day: date) -> list[Window]:
    """The working intervals of local `day` as UTC instants."""
    return [
        (local_instant(day, start, zone), local_instant(day, end, zone))
        for start, end in week.get(WEEKDAYS[day.weekday()], [])
    ]


def merged_windows(week: WeekHours, zone: ZoneInfo, first: date, last: date) -> list[Window]:
    """Working intervals of local days first..last, sorted, touching ones joined
    (so 23:00-24:00 and the next day's 00:00-01:00 hold a meeting at 23:30)."""
    windows: list[Window] = []
    day = first
    while day <= last:
        windows.extend(day_windows(week, zone, day))
        day += timedelta(days=1)
    return _merge(windows)


def _merge(intervals: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covers(windows: Sequence[Window], start: datetime, end: datetime) -> bool:
    """Whether one of the sorted, disjoint `windows` contains [start, end)."""
    index = bisect.bisect_right(windows, start, key=lambda w: w[0]) - 1
    return index >= 0 and windows[index][1] >= end


def _overlaps(busy: Sequence[Window], start: datetime, end: datetime) -> bool:
    """Whether [start, end) overlaps one of the sorted, disjoint `busy` intervals."""
    index = bisect.bisect_left(busy, end, key=lambda w: w[0]) - 1
    return index >= 0 and busy[index][1] > start


def within_working_hours(week: WeekHours, zone: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies inside the working hours of `week` in `zone`."""
    local_day = start.astimezone(zone).date()
    day = timedelta(days=1)
    windows = merged_windows(week, zone, local_day - day, local_day + day)
    return _covers(windows, start, end)


def _grid(zone: ZoneInfo, first: date, last: date) -> Iterator[datetime]:
    """Every local :00 and :30 of days first..last that exists, once, as aware UTC."""
    day = first
    while day <= last:
        midnight = datetime.combine(day, time(), tzinfo=zone)
        for step in range(_SLOTS_PER_DAY):
            wall = (midnight.replace(tzinfo=None) + step * STEP).replace(tzinfo=zone)
            instant = wall.astimezone(UTC)
            # In a gap zoneinfo still answers; only a real wall time survives the round trip.
            if instant.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
                yield instant
        day += timedelta(days=1)


def free_slots(
    week: WeekHours,
    zone: ZoneInfo,
    *,
    start: datetime,
    end: datetime,
    busy: Iterable[Window],
    earliest: datetime,
    latest: datetime,
) -> list[datetime]:
    """Starts of the one-hour slots that lie inside [start, end) and the working hours,
    overlap nothing in `busy`, and start from `earliest` to `latest` (both included)."""
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    windows = merged_windows(week, zone, first, last + timedelta(days=1))
    taken = _merge(busy)
    found = []
    for slot in _grid(zone, first, last):
        slot_end = slot + SLOT
        if slot < start or slot_end > end or slot < earliest or slot > latest:
            continue
        if _covers(windows, slot, slot_end) and not _overlaps(taken, slot, slot_end):
            found.append(slot)
    return found
