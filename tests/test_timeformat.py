"""meetbook.timeformat: the one way the page, emails and push write a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meetbook.notifications.content import push_message
from meetbook.notifications.email import render_email
from meetbook.timeformat import (
    format_moment,
    format_range,
    format_time_range,
    format_when,
    format_when_short,
    zone_label,
)
from tests.notifications.factories import make_meeting, make_notice

NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "EST"),
        ("Europe/Paris", "CET"),
        ("UTC", "UTC"),
        # tzdata has no letters for these zones: the offset, not a bare "+04".
        ("Asia/Dubai", "UTC+04:00"),
        ("America/Sao_Paulo", "UTC\u221203:00"),
        ("Asia/Kathmandu", "UTC+05:45"),
    ],
)
def test_the_zone_label_is_letters_or_the_utc_offset(zone: str, expected: str) -> None:
    moment = datetime(2026, 1, 15, 12, 0, tzinfo=UTC).astimezone(ZoneInfo(zone))
    assert zone_label(moment) == expected


def test_a_range_over_spring_forward_names_each_end() -> None:
    # 01:30 EST on 8 March 2026, one hour later the clocks say 03:30 EDT.
    start = _ts("2026-03-08T06:30:00+00:00")
    assert format_time_range(start, start + HOUR, NEW_YORK) == "01:30 EST\u201303:30 EDT"
    assert format_range(start, start + HOUR, NEW_YORK) == "Sun 8 Mar 2026, 01:30 EST\u201303:30 EDT"


def test_a_range_over_fall_back_names_each_end() -> None:
    # 01:30 EDT on 1 November 2026, one hour later 01:30 again, now EST.
    start = _ts("2026-11-01T05:30:00+00:00")
    assert format_time_range(start, start + HOUR, NEW_YORK) == "01:30 EDT\u201301:30 EST"


def test_a_range_without_a_clock_change_names_the_zone_once() -> None:
    start = _ts("2026-01-15T14:00:00+00:00")
    assert format_time_range(start, start + HOUR, NEW_YORK) == "09:00\u201310:00 EST"
    dubai = ZoneInfo("Asia/Dubai")
    assert format_time_range(start, start + HOUR, dubai) == "18:00\u201319:00 UTC+04:00"


def test_a_range_over_midnight_writes_both_days() -> None:
    start = _ts("2026-01-16T04:30:00+00:00")  # 23:30 in New York
    assert format_range(start, start + HOUR, NEW_YORK) == (
        "Thu 15 Jan 2026, 23:30 EST \u2013 Fri 16 Jan 2026, 00:30 EST"
    )


def test_email_push_and_page_write_the_same_label() -> None:
    dubai = ZoneInfo("Asia/Dubai")
    start = datetime(2025, 12, 15, 14, 0, tzinfo=UTC)
    assert format_moment(int(start.timestamp()), dubai) == "Mon 15 Dec 2025, 18:00 UTC+04:00"
    assert format_when(start, dubai) == "Monday 15 December 2025, 18:00 UTC+04:00 (Asia/Dubai)"
    assert format_when_short(start, dubai) == "15 Dec 2025, 18:00 UTC+04:00"

    notice = make_notice("meeting-confirmed", make_meeting(start=start), to_timezone="Asia/Dubai")
    assert "on 15 Dec 2025, 18:00 UTC+04:00 is confirmed" in push_message(notice)[1]
    email = render_email(
        notice,
        mail_from="meetbook <no-reply@meet.example.test>",
        base_url="https://meet.example.test",
        domain="meet.example.test",
    )
    assert "18:00 UTC+04:00" in str(email["Subject"])
    text = email.get_body(("plain",))
    assert text is not None
    assert "Monday 15 December 2025, 18:00 UTC+04:00 (Asia/Dubai)" in text.get_content()
    assert "+04 " not in text.get_content()


def test_day_and_month_names_do_not_depend_on_the_locale() -> None:
    start = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)
    assert format_when(start, ZoneInfo("UTC")) == "Saturday 4 July 2026, 12:00 UTC"
    assert format_moment(int(start.timestamp()), ZoneInfo("UTC")).startswith("Sat 4 Jul 2026")
    assert format_moment(int((start + timedelta(days=1)).timestamp()), NEW_YORK).startswith("Sun")
