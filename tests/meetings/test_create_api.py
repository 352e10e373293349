"""POST /api/v3/meeting/create: the seed's fields, messages and rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import MovableClock, World, create_meeting, future

REQUIRED = "user_id, team_id, and date are required"


@pytest.fixture
async def pair(world: World) -> tuple:
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def test_create_returns_the_meeting_object(client, pair, clock: MovableClock) -> None:
    requester, recipient, team_id = pair
    date = future(clock, days=10, hour=14)
    response = await create_meeting(
        client, requester, recipient, team_id, date, link="https://zoom.us/j/1234567890"
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v3/meeting/{body['id']}"
    local = datetime.fromisoformat(date).replace(tzinfo=ZoneInfo("America/New_York"))
    start = int(local.timestamp())
    assert body["start_time"] == start
    assert body["end_time"] == start + 3600
    assert body["booking_date"] == datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert body["client_id"] == recipient.id
    assert body["user_id"] == requester.id
    assert body["team_id"] == team_id
    assert body["timezone"] == "America/New_York"
    assert body["link"] == "https://zoom.us/j/1234567890"
    assert body["status"] == "pending"
    assert body["booking_number"].startswith("MB-")
    assert body["created_at"].endswith("Z") and body["updated_at"].endswith("Z")


async def test_offset_in_the_date_is_honoured(client, pair, clock: MovableClock) -> None:
    requester, recipient, team_id = pair
    day = (clock.now + timedelta(days=5)).date()
    response = await create_meeting(client, requester, recipient, team_id, f"{day}T14:00:00+05:30")
    assert response.status_code == 201
    expected = datetime.fromisoformat(f"{day}T14:00:00+05:30")
    assert response.json()["start_time"] == int(expected.timestamp())


@pytest.mark.parametrize("zone", [None, "Not/AZone", ""])
async def test_recipient_without_valid_zone_is_read_as_utc(
    client, world: World, clock, zone
) -> None:
    requester = await world.person()
    recipient = await world.person(timezone=zone)
    team_id = await world.team(requester, recipient)
    date = future(clock, days=3, hour=9)
    response = await create_meeting(client, requester, recipient, team_id, date)
    assert response.status_code == 201
    body = response.json()
    assert body["timezone"] == "UTC"
    assert body["booking_date"] == date


@pytest.mark.parametrize("field", ["user_id", "team_id", "date"])
@pytest.mark.parametrize("value", ["absent", None, ""])
async def test_missing_field_has_the_exact_message(client, pair, clock, field, value) -> None:
    requester, recipient, team_id = pair
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock)}
    if value == "absent":
        del body[field]
    else:
        body[field] = value
    response = await client.post("/api/v3/meeting/create", json=body, headers=requester.auth)
    assert response.status_code == 400
    assert response.json() == {"error": 400, "message": REQUIRED}


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_id", "abc"), ("team_id", 1.5), ("date", 5), ("user_id", True), ("team_id", [1])],
)
async def test_wrong_type_names_the_field(client, pair, clock, field, value) -> None:
    requester, recipient, team_id = pair
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock), field: value}
    response = await client.post("/api/v3/meeting/create", json=body, headers=requester.auth)
    assert response.status_code == 400
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "date",
    ["tomorrow-ish", "2030-02-30 10:00", "2030-06-01", "01/02/2031 10:00", "2001-01-01 10:00"],
)
async def test_bad_dates_are_400_naming_date(client, pair, date) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(client, requester, recipient, team_id, date)
    assert response.status_code == 400
    assert "date" in response.json()["message"].lower()


async def test_dst_gap_in_recipient_zone_is_400(client, pair, clock) -> None:
    requester, recipient, team_id = pair
    clock.now = datetime(2027, 1, 1, tzinfo=UTC)
    response = await create_meeting(client, requester, recipient, team_id, "2027-03-14 02:30")
    assert response.status_code == 400
    message = response.json()["message"]
    assert "does not exist" in message and "America/New_York" in message


async def test_dst_fold_takes_the_earlier_instant(client, pair, clock) -> None:
    requester, recipient, team_id = pair
    clock.now = datetime(2027, 1, 1, tzinfo=UTC)
    response = await create_meeting(client, requester, recipient, team_id, "2027-11-07 01:30")
    assert response.status_code == 201
    assert response.json()["booking_date"] == "2027-11-07 05:30:00"


@pytest.mark.parametrize(
    "link", ["ftp://x.example/a", "zoom.us/j/1", "javascript:alert(1)", "https://" + "a" * 2050]
)
async def test_bad_link_names_link(client, pair, clock, link) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(client, requester, recipient, team_id, future(clock), link=link)
    assert response.status_code == 400
    assert "link" in response.json()["message"]


async def test_null_link_is_accepted(client, pair, clock) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(client, requester, recipient, team_id, future(clock), link=None)
    assert response.status_code == 201
    assert response.json()["link"] is None


async def test_meeting_with_yourself_is_400(client, pair, clock) -> None:
    requester, _, team_id = pair
    response = await create_meeting(client, requester, requester, team_id, future(clock))
    assert response.status_code == 400


async def test_unknown_team_or_recipient_is_404(client, pair, clock) -> None:
    requester, recipient, team_id = pair
    body = {"user_id": recipient.id, "team_id": team_id + 999, "date": future(clock)}
    response = await client.post("/api/v3/meeting/create", json=body, headers=requester.auth)
    assert response.status_code == 404
    body = {"user_id": recipient.id + 999, "team_id": team_id, "date": future(clock)}
    response = await client.post("/api/v3/meeting/create", json=body, headers=requester.auth)
    assert response.status_code == 404


async def test_non_members_are_403(client, world: World, pair, clock) -> None:
    requester, recipient, team_id = pair
    outsider = await world.person()
    response = await create_meeting(client, outsider, recipient, team_id, future(clock))
    assert response.status_code == 403
    response = await create_meeting(client, requester, outsider, team_id, future(clock))
    assert response.status_code == 403


async def test_confirmed_overlap_for_recipient_is_409(client, world: World, pair, clock) -> None:
    requester, recipient, team_id = pair
    other = await world.person()
    await world.team(other, recipient)
    first = await create_meeting(client, requester, recipient, team_id, future(clock, hour=10))
    confirmed = await client.post(
        f"/api/v3/meeting/{first.json()['id']}/confirm", headers=recipient.auth
    )
    assert confirmed.status_code == 200
    half_past = future(clock, hour=10).replace(":00:00", ":30:00")
    response = await create_meeting(client, requester, recipient, team_id, half_past)
    assert response.status_code == 409
    assert "taken" in response.json()["message"]
    # Back-to-back is not an overlap.
    response = await create_meeting(client, requester, recipient, team_id, future(clock, hour=11))
    assert response.status_code == 201


async def test_body_must_be_a_json_object(client, pair) -> None:
    requester, _, _ = pair
    for raw in (b"[1, 2]", b"{not json", b'"text"'):
        response = await client.post(
            "/api/v3/meeting/create",
            content=raw,
            headers={**requester.auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "JSON object" in response.json()["message"]


async def test_times_are_kept_to_the_second(client, pair, clock) -> None:
    requester, recipient, team_id = pair
    day = (clock.now + timedelta(days=4)).date()
    response = await create_meeting(client, requester, recipient, team_id, f"{day}T10:00:05.987Z")
    assert response.status_code == 201
    assert response.json()["booking_date"].endswith("10:00:05")
