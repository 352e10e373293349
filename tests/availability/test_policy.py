"""Team booking policy (PATCH /api/v3/teams/{id}) and outside_working_hours on create."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import MovableClock, World, create_meeting, future
from tests.test_errors import assert_envelope

MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def team(world: World, clock: MovableClock, admin_team):
    clock.now = MONDAY_NOON
    admin = await world.person("Ada Admin", timezone="UTC")
    ben = await world.person("Ben", timezone="America/New_York")
    return admin, ben, await admin_team(admin, ben)


async def test_admin_sets_the_policy(client, team) -> None:
    admin, _ben, team_id = team
    body = {"min_notice_minutes": 120, "max_days_ahead": 30, "name": "  Sales  "}
    response = await client.patch(f"/api/v3/teams/{team_id}", json=body, headers=admin.auth)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": team_id,
        "name": "Sales",
        "min_notice_minutes": 120,
        "max_days_ahead": 30,
    }
    # A partial patch changes only what it names.
    response = await client.patch(
        f"/api/v3/teams/{team_id}", json={"max_days_ahead": 730}, headers=admin.auth
    )
    assert response.json()["min_notice_minutes"] == 120
    assert response.json()["max_days_ahead"] == 730


async def test_defaults(client, team) -> None:
    admin, _ben, team_id = team
    response = await client.patch(f"/api/v3/teams/{team_id}", json={}, headers=admin.auth)
    assert response.json()["min_notice_minutes"] == 0
    assert response.json()["max_days_ahead"] == 730


async def test_members_may_not_and_strangers_do_not_see_it(client, team, world) -> None:
    _admin, ben, team_id = team
    body = {"min_notice_minutes": 60}
    assert_envelope(
        await client.patch(f"/api/v3/teams/{team_id}", json=body, headers=ben.auth), 403
    )
    stranger = await world.person()
    response = await client.patch(f"/api/v3/teams/{team_id}", json=body, headers=stranger.auth)
    assert_envelope(response, 404)
    response = await client.patch(f"/api/v3/teams/{team_id + 99}", json=body, headers=ben.auth)
    assert_envelope(response, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"min_notice_minutes": -1},
        {"min_notice_minutes": 10081},
        {"min_notice_minutes": "60"},
        {"min_notice_minutes": 1.5},
        {"min_notice_minutes": True},
        {"max_days_ahead": 0},
        {"max_days_ahead": 731},
        {"max_days_ahead": None},
        {"name": ""},
        {"name": "a\nb"},
        {"name": "x" * 201},
    ],
)
async def test_invalid_values_are_400(client, team, body) -> None:
    admin, _ben, team_id = team
    response = await client.patch(f"/api/v3/teams/{team_id}", json=body, headers=admin.auth)
    if body == {"max_days_ahead": None}:
        # null means "leave it": the field is optional.
        assert response.status_code == 200
        return
    payload = assert_envelope(response, 400)
    assert next(iter(body)) in payload["message"]


async def _policy(client, admin, team_id, **policy) -> None:
    response = await client.patch(f"/api/v3/teams/{team_id}", json=policy, headers=admin.auth)
    assert response.status_code == 200, response.text


async def test_create_needs_the_minimum_notice(client, team) -> None:
    admin, ben, team_id = team
    await _policy(client, admin, team_id, min_notice_minutes=180)
    # Ben is in New York: 09:00 there is 14:00 UTC, two hours from now.
    response = await create_meeting(client, admin, ben, team_id, "2027-03-01 09:00:00")
    body = assert_envelope(response, 400)
    assert "at least 180 minutes' notice" in body["message"]
    assert body["details"][0]["field"] == "date"
    # Exactly three hours ahead (15:00 UTC) is enough.
    assert (
        await create_meeting(client, admin, ben, team_id, "2027-03-01 10:00:00")
    ).status_code == 201


async def test_create_is_refused_too_far_ahead(client, team) -> None:
    admin, ben, team_id = team
    await _policy(client, admin, team_id, max_days_ahead=30)
    response = await create_meeting(client, admin, ben, team_id, "2027-04-01 10:00:00")
    body = assert_envelope(response, 400)
    assert "at most 30 days ahead" in body["message"]
    assert (
        await create_meeting(client, admin, ben, team_id, "2027-03-30 10:00:00")
    ).status_code == 201


async def test_the_default_horizon_is_two_years(client, team, clock) -> None:
    admin, ben, team_id = team
    response = await create_meeting(client, admin, ben, team_id, future(clock, days=731))
    assert "at most 730 days ahead" in assert_envelope(response, 400)["message"]
    assert (
        await create_meeting(client, admin, ben, team_id, future(clock, 729))
    ).status_code == 201


@pytest.mark.parametrize(
    ("date", "outside"),
    [
        ("2027-03-02 10:00:00", False),  # Tuesday 10:00 in New York
        ("2027-03-02 16:00:00", False),  # ends at 17:00 exactly
        ("2027-03-02 16:30:00", True),  # runs past 17:00
        ("2027-03-02 03:00:00", True),
        ("2027-03-06 10:00:00", True),  # Saturday
        ("2027-03-02T15:00:00Z", False),  # 10:00 in New York
    ],
)
async def test_outside_working_hours_is_set_on_create(client, team, date, outside) -> None:
    admin, ben, team_id = team
    response = await create_meeting(client, admin, ben, team_id, date)
    assert response.status_code == 201, response.text
    assert response.json()["outside_working_hours"] is outside
    meeting = await client.get(f"/api/v3/meeting/{response.json()['id']}", headers=ben.auth)
    assert meeting.json()["outside_working_hours"] is outside


async def test_outside_working_hours_follows_the_recipients_own_hours(client, team) -> None:
    admin, ben, team_id = team
    hours = {day: [["06:00", "08:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    await client.put("/api/v3/me/working-hours", json={"days": hours}, headers=ben.auth)
    early = await create_meeting(client, admin, ben, team_id, "2027-03-06 06:30:00")
    assert early.json()["outside_working_hours"] is False
    usual = await create_meeting(client, admin, ben, team_id, "2027-03-02 10:00:00")
    assert usual.json()["outside_working_hours"] is True
