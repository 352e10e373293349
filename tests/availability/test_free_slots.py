"""GET /api/v3/teams/{team_id}/members/{user_id}/free-slots."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.availability.conftest import confirmed
from tests.availability.test_working_hours import NINE_TO_FIVE, WEEKDAYS, week
from tests.conftest import MovableClock, World, create_meeting
from tests.test_errors import assert_envelope

# A Monday, 12:00 UTC.
MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def url(team_id: int, user_id: int) -> str:
    return f"/api/v3/teams/{team_id}/members/{user_id}/free-slots"


def starts(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [slot["booking_date"] for slot in response.json()["data"]]


@pytest.fixture
async def pair(world: World, clock: MovableClock):
    clock.now = MONDAY_NOON
    ana = await world.person("Ana", timezone="UTC")
    ben = await world.person("Ben", timezone="UTC")
    return ana, ben, await world.team(ana, ben)


async def test_a_day_of_default_hours(client, pair) -> None:
    ana, ben, team_id = pair
    query = {"from": "2027-03-02T00:00:00Z", "to": "2027-03-03T00:00:00Z"}
    response = await client.get(url(team_id, ben.id), params=query, headers=ana.auth)
    found = starts(response)
    # 09:00 to 16:00, every half hour: the last slot ends at 17:00.
    assert found[0] == "2027-03-02 09:00:00" and found[-1] == "2027-03-02 16:00:00"
    assert len(found) == 15
    first = response.json()["data"][0]
    start = int(datetime(2027, 3, 2, 9, tzinfo=UTC).timestamp())
    assert first == {
        "start_time": start,
        "end_time": start + 3600,
        "booking_date": "2027-03-02 09:00:00",
        "local_time": "2027-03-02T09:00:00+00:00",
    }


async def test_default_range_is_the_next_seven_days_and_not_the_past(client, pair) -> None:
    ana, ben, team_id = pair
    found = starts(await client.get(url(team_id, ben.id), headers=ana.auth))
    # Monday from 12:00 on (12:00 itself is now, not the future), then Tuesday to Friday,
    # then Monday 8 March up to now + 7 days; the weekend is off.
    assert found[0] == "2027-03-01 12:30:00"
    assert found[-1] == "2027-03-08 11:00:00"
    assert not any(day.startswith(("2027-03-06", "2027-03-07")) for day in found)
    assert len(found) == 8 + 4 * 15 + 5


async def test_the_callers_own_slots(client, pair) -> None:
    ana, _ben, team_id = pair
    assert starts(await client.get(url(team_id, ana.id), headers=ana.auth))


async def test_confirmed_meetings_are_taken_pending_ones_are_not(client, pair, world) -> None:
    ana, ben, team_id = pair
    carl = await world.person("Carl", timezone="UTC")
    async with world.sessionmaker() as session, session.begin():
        from meetbook.accounts import service as accounts

        await accounts.add_member(session, team_id, carl.id)
    await confirmed(client, ana, ben, team_id, "2027-03-02 10:00:00")
    pending = await create_meeting(client, carl, ben, team_id, "2027-03-02 14:00:00")
    assert pending.status_code == 201
    query = {"from": "2027-03-02T00:00:00Z", "to": "2027-03-03T00:00:00Z"}
    found = starts(await client.get(url(team_id, ben.id), params=query, headers=carl.auth))
    for taken in ("09:30", "10:00", "10:30"):
        assert f"2027-03-02 {taken}:00" not in found
    assert "2027-03-02 09:00:00" in found and "2027-03-02 11:00:00" in found
    assert "2027-03-02 14:00:00" in found
    assert len(found) == 12
    # Cancelling gives the time back.
    meeting_id = (await client.get("/api/v3/meeting/list", headers=ana.auth)).json()["data"][0]
    await client.post(f"/api/v3/meeting/{meeting_id['id']}/cancel", headers=ana.auth)
    again = starts(await client.get(url(team_id, ben.id), params=query, headers=carl.auth))
    assert len(again) == 15


async def test_working_hours_of_the_member_in_their_zone(client, world, clock) -> None:
    clock.now = MONDAY_NOON
    ana = await world.person(timezone="UTC")
    ben = await world.person(timezone="Asia/Tokyo")
    team_id = await world.team(ana, ben)
    hours = week(tue=[["08:00", "10:00"], ["13:00", "14:30"]])
    put = await client.put("/api/v3/me/working-hours", json={"days": hours}, headers=ben.auth)
    assert put.status_code == 200
    response = await client.get(url(team_id, ben.id), headers=ana.auth)
    local = [slot["local_time"] for slot in response.json()["data"]]
    assert local == [
        "2027-03-02T08:00:00+09:00",
        "2027-03-02T08:30:00+09:00",
        "2027-03-02T09:00:00+09:00",
        "2027-03-02T13:00:00+09:00",
        "2027-03-02T13:30:00+09:00",
    ]
    assert starts(response)[0] == "2027-03-01 23:00:00"


async def test_slots_align_to_local_half_hours_in_a_45_minute_zone(client, world, clock) -> None:
    clock.now = MONDAY_NOON
    ana = await world.person(timezone="UTC")
    ben = await world.person(timezone="Asia/Kathmandu")  # UTC+05:45
    team_id = await world.team(ana, ben)
    response = await client.get(url(team_id, ben.id), headers=ana.auth)
    data = response.json()["data"]
    assert data
    assert {datetime.fromisoformat(s["local_time"]).minute for s in data} == {0, 30}
    assert {datetime.fromtimestamp(s["start_time"], UTC).minute for s in data} == {15, 45}


@pytest.mark.parametrize(
    ("day", "first_utc"),
    [("2027-03-14", "2027-03-14 13:00:00"), ("2027-11-07", "2027-11-07 14:00:00")],
)
async def test_dst_change_days(client, world, clock, day: str, first_utc: str) -> None:
    clock.now = (
        datetime(2027, 3, 1, tzinfo=UTC)
        if day.startswith("2027-03")
        else datetime(2027, 11, 1, tzinfo=UTC)
    )
    ana = await world.person(timezone="UTC")
    ben = await world.person(timezone="America/New_York")
    team_id = await world.team(ana, ben)
    hours = week(sun=NINE_TO_FIVE)
    await client.put("/api/v3/me/working-hours", json={"days": hours}, headers=ben.auth)
    query = {"from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"}
    response = await client.get(url(team_id, ben.id), params=query, headers=ana.auth)
    found = starts(response)
    assert len(found) == 15
    assert found[0] == first_utc
    zone = ZoneInfo("America/New_York")
    local = [datetime.fromtimestamp(s["start_time"], zone) for s in response.json()["data"]]
    assert (local[0].hour, local[-1].hour, local[-1].minute) == (9, 16, 0)


async def test_the_hour_that_happens_twice_is_offered_once(client, world, clock) -> None:
    clock.now = datetime(2027, 11, 1, tzinfo=UTC)
    ana = await world.person(timezone="UTC")
    ben = await world.person(timezone="America/New_York")
    team_id = await world.team(ana, ben)
    hours = week(sun=[["00:00", "04:00"]])
    await client.put("/api/v3/me/working-hours", json={"days": hours}, headers=ben.auth)
    query = {"from": "2027-11-07T00:00:00Z", "to": "2027-11-08T00:00:00Z"}
    response = await client.get(url(team_id, ben.id), params=query, headers=ana.auth)
    local = [slot["local_time"][11:16] for slot in response.json()["data"]]
    assert local == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00"]
    assert len(set(local)) == len(local)


async def test_booking_policy_bounds_the_slots(client, world, clock, admin_team) -> None:
    clock.now = MONDAY_NOON
    ana = await world.person(timezone="UTC")
    ben = await world.person(timezone="UTC")
    team_id = await admin_team(ana, ben)
    policy = {"min_notice_minutes": 24 * 60, "max_days_ahead": 3}
    assert (
        await client.patch(f"/api/v3/teams/{team_id}", json=policy, headers=ana.auth)
    ).status_code == 200
    found = starts(await client.get(url(team_id, ben.id), headers=ana.auth))
    # From Tuesday 12:00 (a day's notice) to Thursday 12:00 (three days ahead).
    assert found[0] == "2027-03-02 12:00:00"
    assert found[-1] == "2027-03-04 12:00:00"


@pytest.mark.parametrize("who", ["stranger-caller", "stranger-member", "unknown-team"])
async def test_not_members_are_404(client, pair, world, who: str) -> None:
    ana, ben, team_id = pair
    stranger = await world.person()
    caller, member, team = {
        "stranger-caller": (stranger, ben.id, team_id),
        "stranger-member": (ana, stranger.id, team_id),
        "unknown-team": (ana, ben.id, team_id + 1000),
    }[who]
    assert_envelope(await client.get(url(team, member), headers=caller.auth), 404)
    assert_envelope(await client.get(url(team_id, 10**12), headers=ana.auth), 404)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"from": "2027-03-05T00:00:00Z", "to": "2027-03-04T00:00:00Z"}, "after"),
        ({"from": "2027-03-01T00:00:00Z", "to": "2027-04-02T00:00:00Z"}, "31 days"),
        ({"to": "2027-05-01T00:00:00Z"}, "31 days"),
        ({"from": "next tuesday"}, "from"),
        ({"to": "2027-13-01"}, "to"),
        ({"from": "999999999999"}, "from"),
        ({"from": "-99999999999"}, "from"),
        ({"from": "9999-12-31T23:00:00Z"}, "from"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"from": "1" * 65}, "from"),
    ],
)
async def test_bad_ranges_are_400(client, pair, query, says: str) -> None:
    ana, ben, team_id = pair
    body = assert_envelope(
        await client.get(url(team_id, ben.id), params=query, headers=ana.auth), 400
    )
    assert says in body["message"]


async def test_unix_seconds_and_offsets_are_accepted(client, pair) -> None:
    ana, ben, team_id = pair
    start = int(datetime(2027, 3, 2, tzinfo=UTC).timestamp())
    query = {"from": str(start), "to": "2027-03-02T16:00:00+05:00"}
    found = starts(await client.get(url(team_id, ben.id), params=query, headers=ana.auth))
    assert found == ["2027-03-02 09:00:00", "2027-03-02 09:30:00", "2027-03-02 10:00:00"]


async def test_a_range_in_the_past_is_empty(client, pair) -> None:
    ana, ben, team_id = pair
    query = {"from": "2027-02-01T00:00:00Z", "to": "2027-02-20T00:00:00Z"}
    assert starts(await client.get(url(team_id, ben.id), params=query, headers=ana.auth)) == []


_bound = st.one_of(
    st.text(max_size=70),
    st.integers(min_value=-(10**14), max_value=10**14).map(str),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=st.one_of(st.none(), _bound), end=st.one_of(st.none(), _bound))
async def test_any_from_and_to_is_200_or_400(client, pair, start, end) -> None:
    ana, ben, team_id = pair
    query = {name: value for name, value in (("from", start), ("to", end)) if value is not None}
    response = await client.get(url(team_id, ben.id), params=query, headers=ana.auth)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_envelope(response, 400)


async def test_every_weekday_default_is_used_for_never_set(client, pair) -> None:
    ana, ben, team_id = pair
    query = {"from": "2027-03-06T00:00:00Z", "to": "2027-03-08T00:00:00Z"}
    assert starts(await client.get(url(team_id, ben.id), params=query, headers=ana.auth)) == []
    assert len(WEEKDAYS) == 7
