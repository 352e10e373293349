"""The calendar feed: POST/DELETE /api/v3/me/calendar-feed and GET /calendar/<secret>.ics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select

from meetbook.app import create_app
from meetbook.models import CalendarFeed
from tests.availability.conftest import confirmed
from tests.conftest import MovableClock, World, _empty_tables, create_meeting, settings_for
from tests.test_errors import assert_envelope

FEED = "/api/v3/me/calendar-feed"
MONDAY_NOON = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def trio(world: World, clock: MovableClock):
    clock.now = MONDAY_NOON
    ana = await world.person("Ana", timezone="UTC")
    ben = await world.person("Ben", timezone="UTC")
    carl = await world.person("Carl", timezone="UTC")
    return ana, ben, carl, await world.team(ana, ben, carl)


async def _new_feed(client: httpx.AsyncClient, person) -> str:
    response = await client.post(FEED, headers=person.auth)
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert url.startswith("http://meetbook.test/calendar/") and url.endswith(".ics")
    return url.removeprefix("http://meetbook.test")


def _events(response: httpx.Response) -> dict[str, dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {
        str(event["UID"]): {
            "status": str(event["STATUS"]),
            "start": event.decoded("DTSTART").isoformat(),
            "summary": str(event["SUMMARY"]),
        }
        for event in calendar.walk("VEVENT")
    }


async def test_feed_serves_confirmed_and_pending_meetings(client, trio, clock) -> None:
    ana, ben, carl, team_id = trio
    kept = await confirmed(client, ana, ben, team_id, "2027-03-02 10:00:00")
    pending = (await create_meeting(client, carl, ben, team_id, "2027-03-03 10:00:00")).json()
    rejected = (await create_meeting(client, carl, ben, team_id, "2027-03-04 10:00:00")).json()
    await client.post(f"/api/v3/meeting/{rejected['id']}/reject", headers=ben.auth)
    others = await confirmed(client, ana, carl, team_id, "2027-03-05 10:00:00")
    path = await _new_feed(client, ben)
    events = _events(await client.get(path))  # no Authorization header
    assert set(events) == {
        f"meeting-{kept['booking_number']}@meetbook.test",
        f"meeting-{pending['booking_number']}@meetbook.test",
    }
    assert events[f"meeting-{kept['booking_number']}@meetbook.test"] == {
        "status": "CONFIRMED",
        "start": "2027-03-02T10:00:00+00:00",
        "summary": "Meeting: Ana and Ben",
    }
    assert events[f"meeting-{pending['booking_number']}@meetbook.test"]["status"] == "TENTATIVE"
    assert f"meeting-{others['booking_number']}@meetbook.test" not in events


async def test_the_uid_is_the_one_of_the_emailed_invite(client, trio) -> None:
    from meetbook.notifications.ics import invite_uid

    ana, ben, _carl, team_id = trio
    kept = await confirmed(client, ana, ben, team_id, "2027-03-02 10:00:00")
    # The requester's feed holds it too.
    events = _events(await client.get(await _new_feed(client, ana)))
    assert set(events) == {invite_uid(kept["booking_number"], "meetbook.test")}


async def test_past_meetings_stay_for_thirty_days(client, trio, clock) -> None:
    ana, ben, _carl, team_id = trio
    await confirmed(client, ana, ben, team_id, "2027-03-02 10:00:00")
    gone = (await create_meeting(client, ana, ben, team_id, "2027-03-03 10:00:00")).json()
    path = await _new_feed(client, ben)
    clock.advance(days=20)
    events = _events(await client.get(path))
    # The confirmed one is still there (completed); the expired request is not.
    assert len(events) == 1 and f"meeting-{gone['booking_number']}@meetbook.test" not in events
    clock.advance(days=11)
    assert _events(await client.get(path)) == {}


async def test_a_new_url_replaces_the_old_one(client, trio, sessionmaker) -> None:
    ana, *_ = trio
    first = await _new_feed(client, ana)
    second = await _new_feed(client, ana)
    assert first != second
    assert_envelope(await client.get(first), 404)
    assert (await client.get(second)).status_code == 200
    async with sessionmaker() as session:
        stored = list(await session.scalars(select(CalendarFeed.secret_hash)))
    # Only a SHA-256 digest is kept, never the secret.
    secret = second.removeprefix("/calendar/").removesuffix(".ics")
    assert len(stored) == 1 and len(stored[0]) == 64 and secret not in stored[0]


async def test_revoking_stops_the_url(client, trio) -> None:
    ana, *_ = trio
    path = await _new_feed(client, ana)
    response = await client.delete(FEED, headers=ana.auth)
    assert response.status_code == 204
    assert_envelope(await client.get(path), 404)
    assert (await client.delete(FEED, headers=ana.auth)).status_code == 204


@pytest.mark.parametrize("secret", ["x", "a" * 43, "a" * 500, "%00", "..%2F..%2Fetc"])
async def test_unknown_secrets_are_404(client, secret) -> None:
    assert_envelope(await client.get(f"/calendar/{secret}.ics"), 404)


async def test_feed_routes_need_a_token(client) -> None:
    assert_envelope(await client.post(FEED), 401)
    assert_envelope(await client.delete(FEED), 401)


async def test_etag_answers_304_until_something_changes(client, trio) -> None:
    ana, ben, _carl, team_id = trio
    path = await _new_feed(client, ben)
    first = await client.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and "private" in first.headers["cache-control"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    weak = await client.get(path, headers={"If-None-Match": f'"nope", W/{etag}'})
    assert weak.status_code == 304
    await create_meeting(client, ana, ben, team_id, "2027-03-02 10:00:00")
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert len(_events(changed)) == 1


@pytest.fixture
async def limited_client(database_url: str, tmp_path: Path) -> AsyncIterator[tuple]:
    await _empty_tables(database_url)
    app = create_app(settings_for(database_url, tmp_path, rate_limit_calendar_feed="2/minute"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as http:
            yield app, http


async def test_the_feed_is_rate_limited(limited_client) -> None:
    app, client = limited_client
    ana = await World(app.state.sessionmaker).person()
    path = await _new_feed(client, ana)
    assert (await client.get(path)).status_code == 200
    assert (await client.get("/calendar/unknown-secret-of-some-length.ics")).status_code == 404
    throttled = await client.get(path)
    assert_envelope(throttled, 429)
    assert int(throttled.headers["retry-after"]) >= 1


async def test_the_feed_speaks_its_owner_s_language(client, trio) -> None:
    ana, ben, carl, team_id = trio
    await client.patch("/api/v3/me", json={"locale": "de"}, headers=ben.auth)
    await confirmed(client, ana, ben, team_id, "2027-03-02 10:00:00")
    await create_meeting(client, carl, ben, team_id, "2027-03-03 10:00:00")
    path = await _new_feed(client, ben)
    # Whatever the calendar app's own language.
    response = await client.get(path, headers={"Accept-Language": "fr"})
    summaries = sorted(event["summary"] for event in _events(response).values())
    assert summaries == ["Angefragt: Termin: Carl und Ben", "Termin: Ana und Ben"]
    assert "Buchungsnummer: " in response.text
