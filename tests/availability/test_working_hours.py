"""GET/PUT /api/v3/me/working-hours, and working hours as instants across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meetbook.availability.slots import day_windows, within_working_hours
from tests.conftest import World
from tests.test_errors import assert_envelope

URL = "/api/v3/me/working-hours"
OFF: list[list[str]] = []
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NINE_TO_FIVE = [["09:00", "17:00"]]
DEFAULT = {day: NINE_TO_FIVE if day not in ("sat", "sun") else OFF for day in WEEKDAYS}
NEW_YORK = ZoneInfo("America/New_York")


def week(**days: list[list[str]]) -> dict[str, list[list[str]]]:
    return {day: days.get(day, OFF) for day in WEEKDAYS}


async def test_default_is_monday_to_friday_nine_to_five(client, world: World) -> None:
    ana = await world.person(timezone="Europe/Berlin")
    response = await client.get(URL, headers=ana.auth)
    assert response.status_code == 200
    assert response.json() == {"timezone": "Europe/Berlin", "days": DEFAULT}


async def test_missing_zone_reads_as_utc(client, world: World) -> None:
    ana = await world.person(timezone=None)
    assert (await client.get(URL, headers=ana.auth)).json()["timezone"] == "UTC"


async def test_put_replaces_the_week_sorted(client, world: World) -> None:
    ana = await world.person(timezone="Asia/Tokyo")
    days = week(mon=[["13:00", "18:00"], ["08:30", "12:00"]], sat=[["10:00", "24:00"]])
    response = await client.put(URL, json={"days": days}, headers=ana.auth)
    assert response.status_code == 200, response.text
    expected = week(mon=[["08:30", "12:00"], ["13:00", "18:00"]], sat=[["10:00", "24:00"]])
    assert response.json() == {"timezone": "Asia/Tokyo", "days": expected}
    assert (await client.get(URL, headers=ana.auth)).json()["days"] == expected


async def test_timezone_is_read_only(client, world: World) -> None:
    ana = await world.person(timezone="Asia/Tokyo")
    body = {"timezone": "Europe/Paris", "days": DEFAULT}
    response = await client.put(URL, json=body, headers=ana.auth)
    assert response.status_code == 200
    assert response.json()["timezone"] == "Asia/Tokyo"


INVALID = [
    pytest.param({"mon": [["9:00", "17:00"]]}, id="one-digit-hour"),
    pytest.param({"mon": [["09:00", "17:60"]]}, id="minute-60"),
    pytest.param({"mon": [["24:00", "24:00"]]}, id="starts-at-24"),
    pytest.param({"mon": [["25:00", "26:00"]]}, id="hour-25"),
    pytest.param({"mon": [["17:00", "09:00"]]}, id="end-before-start"),
    pytest.param({"mon": [["09:00", "09:00"]]}, id="empty-interval"),
    pytest.param({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, id="overlap"),
    pytest.param({"mon": [["09:00"]]}, id="one-time"),
    pytest.param({"mon": [["09:00", "10:00", "11:00"]]}, id="three-times"),
    pytest.param({"mon": [[900, 1700]]}, id="numbers"),
    pytest.param({"mon": "09:00-17:00"}, id="string-day"),
    pytest.param({"mon": None}, id="null-day"),
    pytest.param({"mon": [[" 09:00", "17:00"]]}, id="space"),
    pytest.param({"mon": [["09:00\n", "17:00"]]}, id="newline"),
    pytest.param({"mon": [[f"{h:02d}:00", f"{h:02d}:30"] for h in range(5)]}, id="five-intervals"),
]


@pytest.mark.parametrize("change", INVALID)
async def test_invalid_days_are_400_naming_the_day(client, world: World, change) -> None:
    ana = await world.person()
    response = await client.put(URL, json={"days": {**DEFAULT, **change}}, headers=ana.auth)
    body = assert_envelope(response, 400)
    assert "days.mon" in body["message"]
    # Nothing was stored.
    assert (await client.get(URL, headers=ana.auth)).json()["days"] == DEFAULT


async def test_touching_intervals_and_four_a_day_are_fine(client, world: World) -> None:
    ana = await world.person()
    four = [["08:00", "09:00"], ["09:00", "10:00"], ["12:00", "13:00"], ["20:00", "24:00"]]
    response = await client.put(URL, json={"days": week(tue=four)}, headers=ana.auth)
    assert response.status_code == 200, response.text
    assert response.json()["days"]["tue"] == four


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"days": {day: OFF for day in WEEKDAYS if day != "sun"}}, id="missing-sun"),
        pytest.param({"days": {**DEFAULT, "funday": OFF}}, id="unknown-day"),
        pytest.param({}, id="no-days"),
        pytest.param({"days": []}, id="days-list"),
        pytest.param([], id="not-an-object"),
    ],
)
async def test_every_weekday_key_is_required(client, world: World, body) -> None:
    ana = await world.person()
    assert_envelope(await client.put(URL, json=body, headers=ana.auth), 400)


async def test_body_that_is_not_json_is_refused(client, world: World) -> None:
    ana = await world.person()
    response = await client.put(
        URL, content=b"{not json", headers={**ana.auth, "Content-Type": "application/json"}
    )
    assert_envelope(response, 400)


async def test_needs_a_token(client) -> None:
    assert_envelope(await client.get(URL), 401)
    assert_envelope(await client.put(URL, json={"days": DEFAULT}), 401)


# DST: the working day keeps its local times, so its length in UTC is 8 hours.

SUNDAYS = week(sun=NINE_TO_FIVE)


@pytest.mark.parametrize(
    ("day", "start_utc", "end_utc"),
    [
        # The Saturday before the spring change: EST, UTC-5.
        (date(2027, 3, 13), "2027-03-13T14:00", "2027-03-13T22:00"),
        # 14 March 2027: clocks go 02:00 -> 03:00 EDT (UTC-4) before the working day.
        (date(2027, 3, 14), "2027-03-14T13:00", "2027-03-14T21:00"),
        # 7 November 2027: clocks go 02:00 EDT -> 01:00 EST (UTC-5).
        (date(2027, 11, 7), "2027-11-07T14:00", "2027-11-07T22:00"),
        (date(2027, 11, 6), "2027-11-06T13:00", "2027-11-06T21:00"),
    ],
)
def test_change_days_keep_local_hours(day: date, start_utc: str, end_utc: str) -> None:
    every_day = {name: NINE_TO_FIVE for name in WEEKDAYS}
    [(start, end)] = day_windows(every_day, NEW_YORK, day)
    assert start == datetime.fromisoformat(start_utc).replace(tzinfo=UTC)
    assert end == datetime.fromisoformat(end_utc).replace(tzinfo=UTC)
    assert end - start == timedelta(hours=8)
    assert start.astimezone(NEW_YORK).hour == 9 and end.astimezone(NEW_YORK).hour == 17


def test_a_night_across_the_change_is_its_real_length() -> None:
    nights = {name: [["00:00", "06:00"]] for name in WEEKDAYS}
    [(start, end)] = day_windows(nights, NEW_YORK, date(2027, 3, 14))
    assert end - start == timedelta(hours=5)  # 02:00-03:00 does not exist that night
    [(start, end)] = day_windows(nights, NEW_YORK, date(2027, 11, 7))
    assert end - start == timedelta(hours=7)  # 01:00-02:00 happens twice


def test_within_working_hours_joins_touching_intervals_and_midnight() -> None:
    hours = week(mon=[["09:00", "12:00"], ["12:00", "13:00"]], tue=[["22:00", "24:00"]])
    hours["wed"] = [["00:00", "01:00"]]
    utc = ZoneInfo("UTC")

    def at(text: str) -> bool:
        start = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return within_working_hours(hours, utc, start, start + timedelta(hours=1))

    # 2027-03-15 is a Monday.
    assert at("2027-03-15T11:30")
    assert not at("2027-03-15T12:30")
    assert at("2027-03-16T23:30")
    assert not at("2027-03-17T00:30")
