"""Request and response shapes of the availability routes (CONTRACT §1.7, §1.8)."""

from __future__ import annotations

import itertools
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_INTERVALS_PER_DAY = 4
# 24:00 may end an interval: "until midnight" needs a way to be said.
_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00", re.ASCII)

Interval = list[str]


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def check_day(value: Any) -> list[Interval]:
    """One weekday's intervals, validated and sorted by start."""
    if not isinstance(value, list):
        raise ValueError('must be a list of ["HH:MM", "HH:MM"] pairs')
    if len(value) > MAX_INTERVALS_PER_DAY:
        raise ValueError(f"must have at most {MAX_INTERVALS_PER_DAY} intervals")
    intervals: list[Interval] = []
    for pair in value:
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(p, str) and _HHMM.fullmatch(p) for p in pair)
        ):
            raise ValueError('each interval must be a pair of times such as ["09:00", "17:00"]')
        start, end = pair
        if start == "24:00" or _minutes(start) >= _minutes(end):
            raise ValueError(f"interval {start}-{end} must start before it ends")
        intervals.append([start, end])
    intervals.sort(key=lambda pair: _minutes(pair[0]))
    for before, after in itertools.pairwise(intervals):
        if _minutes(after[0]) < _minutes(before[1]):
            raise ValueError(f"intervals {'-'.join(before)} and {'-'.join(after)} overlap")
    return intervals


class Week(BaseModel):
    """Every weekday is required: PUT replaces the whole week, and a missing day would be
    ambiguous between "not working" and "unchanged". `[]` is a day off."""

    model_config = ConfigDict(extra="forbid")

    mon: list[Interval]
    tue: list[Interval]
    wed: list[Interval]
    thu: list[Interval]
    fri: list[Interval]
    sat: list[Interval]
    sun: list[Interval]

    _days = field_validator(*WEEKDAYS, mode="before")(check_day)


class WorkingHoursIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    days: Week = Field(
        description='Local intervals per weekday, e.g. {"mon": [["09:00", "17:00"]], ...}; '
        "every weekday key is required, [] for a day off."
    )


class WorkingHoursOut(BaseModel):
    timezone: str = Field(description="Your effective IANA zone (read-only; set it on /me).")
    days: dict[str, list[Interval]]


class FreeSlot(BaseModel):
    start_time: int
    end_time: int
    booking_date: str = Field(description="Start, UTC, YYYY-MM-DD HH:MM:SS.")
    local_time: str = Field(description="Start in the member's zone, ISO 8601 with offset.")


class CalendarReadStatus(BaseModel):
    """Whether the member's linked calendar was read for these slots."""

    status: Literal["not_linked", "ok", "unavailable"] = Field(
        description="unavailable: the slots ignore the calendar, which could not be read."
    )
    message: str | None = None


class FreeSlotList(BaseModel):
    data: list[FreeSlot]
    calendar: CalendarReadStatus


class LinkedCalendarIn(BaseModel):
    """A CalDAV calendar to link: its collection URL and the account to read it with."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048)
    username: str = Field(max_length=255)
    password: str = Field(max_length=1024)


class LinkedCalendarOut(BaseModel):
    url: str
    username: str
    linked_at: str


class TeamPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    min_notice_minutes: int | None = Field(default=None, ge=0, le=10080, strict=True)
    max_days_ahead: int | None = Field(default=None, ge=1, le=730, strict=True)

    @field_validator("name")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise ValueError("must be 1 to 200 characters without control characters")
        return value


class TeamOut(BaseModel):
    id: int
    name: str
    min_notice_minutes: int
    max_days_ahead: int


class CalendarFeedOut(BaseModel):
    url: str = Field(description="The secret feed address; shown only once.")
