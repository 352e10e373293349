# The push tests' fixtures are imported by name, so pytest finds them; as parameters they
# "redefine" the imports.
# ruff: noqa: F811
"""Reminders, the expiring nudge and the expired notice, end to end with the app's clock moved.

Meetings are created and answered over the API; the worker (on the same movable clock)
delivers to a real aiosmtpd server and to a local FCM peer. Each notice must go out at
its time, once; none after a cancel; and they follow the meeting when it moves.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.meetings.clock_job import record_clock_statuses
from meetbook.meetings.timed_notices import sync_timed_notices
from meetbook.models import BusySlot, Meeting, Notification
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.conftest import MovableClock, Person, World, create_meeting

# Fixtures of the push tests: a local OAuth + FCM peer, an SMTP sink, the providers.
from .http_peer import HttpPeer
from .peers import Inbox
from .test_fcm import FakeGoogle
from .test_worker_push import (  # noqa: F401
    FAST_RETRY,
    fcm_sends,
    google,
    inbox,
    providers,
    push_service,
    register,
    service_key,
    vapid_key_path,
)

TITLE = "Budget <review> & plan"
NOTES = "1. Numbers\n\t2. Next steps"


def make_worker(app: Any, providers: Providers, clock: MovableClock) -> OutboxWorker:
    return OutboxWorker(
        app.state.sessionmaker, providers, app.state.settings, retry=FAST_RETRY, clock=clock
    )


@pytest.fixture
async def pair(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    return requester, recipient, await world.team(requester, recipient)


def at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subjects(inbox: tuple[Inbox, int], event_prefix: str) -> list[tuple[str, str]]:
    """(To, Subject) of every received email whose subject starts with `event_prefix`."""
    return [
        (str(m["To"]), str(m["Subject"]))
        for m in inbox[0].messages()
        if str(m["Subject"]).startswith(event_prefix)
    ]


def fcm_types(google: tuple[FakeGoogle, HttpPeer]) -> Counter[str]:
    return Counter(message["data"]["type"] for message in fcm_sends(google[1]))


async def request(
    client: httpx.AsyncClient, pair: tuple[Person, Person, int], start: datetime, **extra: Any
) -> dict[str, Any]:
    requester, recipient, team_id = pair
    created = await create_meeting(client, requester, recipient, team_id, at(start), **extra)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def confirmed(
    client: httpx.AsyncClient, pair: tuple[Person, Person, int], start: datetime, **extra: Any
) -> dict[str, Any]:
    meeting = await request(client, pair, start, **extra)
    answer = await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=pair[1].auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def scheduled(
    sessionmaker: async_sessionmaker[AsyncSession], meeting_id: int, event: str
) -> list[tuple[str, str, datetime]]:
    """(channel, status, due) of the meeting's rows of `event`."""
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Notification.channel, Notification.status, Notification.next_attempt_at)
            .where(Notification.meeting_id == meeting_id, Notification.event == event)
            .order_by(Notification.next_attempt_at, Notification.id)
        )
        return [tuple(row) for row in rows.tuples()]  # type: ignore[misc]


async def test_reminders_go_out_at_each_participants_times_once_by_email_and_push(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
    inbox: tuple[Inbox, int],
) -> None:
    requester, recipient, _ = pair
    patched = await client.patch(
        "/api/v3/me", json={"reminder_minutes": [15, 1440]}, headers=recipient.auth
    )
    assert patched.json()["reminder_minutes"] == [15, 1440]
    await register(app, client, recipient, {"platform": "fcm", "token": "carl-phone"})
    start = clock.now.replace(second=0) + timedelta(days=3)
    meeting = await confirmed(client, pair, start, title=TITLE, notes=NOTES)
    worker = make_worker(app, providers, clock)
    await worker.drain()
    assert subjects(inbox, "Meeting reminder") == []

    clock.now = start - timedelta(minutes=1440) + timedelta(seconds=1)
    await worker.drain()
    [(to, subject)] = subjects(inbox, "Meeting reminder")
    assert recipient.email in to
    assert subject.startswith(f"Meeting reminder: {TITLE} (Rita Requester), ")
    assert fcm_types(google)["meeting-reminder"] == 1

    clock.now = start - timedelta(minutes=60) + timedelta(seconds=1)
    await worker.drain()
    clock.now = start - timedelta(minutes=15) + timedelta(seconds=1)
    await worker.drain()
    await worker.drain()  # nothing left: each reminder went once

    received = subjects(inbox, "Meeting reminder")
    assert [requester.email in to for to, _ in received] == [False, True, False]
    assert fcm_types(google)["meeting-reminder"] == 2  # only the recipient has a device
    [push] = [m for m in fcm_sends(google[1]) if m["data"]["type"] == "meeting-reminder"][-1:]
    assert push["notification"]["title"] == "MEETING REMINDER"
    assert "starts in 15 minutes" in push["notification"]["body"]
    reminder = next(m for m in inbox[0].messages() if "reminder" in str(m["Subject"]))
    body = reminder.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert "starts in 1 day" in text and NOTES in text
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    assert [status for _, status, _ in rows] == ["sent"] * 5


async def test_no_reminder_after_a_cancel(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    inbox: tuple[Inbox, int],
) -> None:
    start = clock.now.replace(second=0) + timedelta(days=2)
    meeting = await confirmed(client, pair, start)
    assert len(await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")) == 2
    cancel = await client.post(f"/api/v3/meeting/{meeting['id']}/cancel", headers=pair[0].auth)
    assert cancel.status_code == 200

    clock.now = start - timedelta(minutes=5)
    await make_worker(app, providers, clock).drain()
    assert subjects(inbox, "Meeting reminder") == []
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    assert {status for _, status, _ in rows} == {"cancelled"}


async def move(
    sessionmaker: async_sessionmaker[AsyncSession], meeting_id: int, start: datetime, now: datetime
) -> None:
    """A time change as a reschedule makes it, then the one entry point."""
    ts = int(start.timestamp())
    async with sessionmaker() as session, session.begin():
        values = {"start_time": ts, "end_time": ts + 3600}
        await session.execute(update(Meeting).where(Meeting.id == meeting_id).values(**values))
        await session.execute(
            update(BusySlot).where(BusySlot.meeting_id == meeting_id).values(**values)
        )
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        await session.refresh(meeting)
        await sync_timed_notices(session, meeting, now)


async def test_reminders_move_with_the_meeting(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    inbox: tuple[Inbox, int],
) -> None:
    requester, _, _ = pair
    start = clock.now.replace(second=0) + timedelta(days=2)
    meeting = await confirmed(client, pair, start)
    later = start + timedelta(days=1)
    await move(app.state.sessionmaker, meeting["id"], later, clock.now)
    # Twice: the entry point is idempotent.
    await move(app.state.sessionmaker, meeting["id"], later, clock.now)
    worker = make_worker(app, providers, clock)

    clock.now = start - timedelta(minutes=30)
    await worker.drain()
    assert subjects(inbox, "Meeting reminder") == []  # not at the old time
    clock.now = later - timedelta(minutes=30)
    await worker.drain()
    received = subjects(inbox, "Meeting reminder")
    assert sorted(requester.email in to for to, _ in received) == [False, True]
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    assert Counter(status for _, status, _ in rows) == {"cancelled": 2, "sent": 2}


async def test_a_stale_reminder_claimed_after_a_move_is_dropped_not_sent(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    inbox: tuple[Inbox, int],
) -> None:
    """A change that bypassed the entry point: the worker's own check still holds."""
    start = clock.now.replace(second=0) + timedelta(days=2)
    meeting = await confirmed(client, pair, start)
    async with app.state.sessionmaker() as session, session.begin():
        ts = int((start + timedelta(days=1)).timestamp())
        await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting["id"])
            .values(start_time=ts, end_time=ts + 3600)
        )
    clock.now = start - timedelta(minutes=30)
    await make_worker(app, providers, clock).drain()
    assert subjects(inbox, "Meeting reminder") == []
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    assert {status for _, status, _ in rows} == {"cancelled"}


async def test_no_reminder_for_a_time_already_past_when_scheduled(
    app: Any, client: httpx.AsyncClient, clock: MovableClock, pair: tuple[Person, Person, int]
) -> None:
    _, recipient, _ = pair
    await client.patch("/api/v3/me", json={"reminder_minutes": [15, 60]}, headers=recipient.auth)
    meeting = await confirmed(client, pair, clock.now.replace(second=0) + timedelta(minutes=40))
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    # Only the recipient's 15-minute one: both 60-minute ones were already past.
    assert [(channel, status) for channel, status, _ in rows] == [("email", "pending")]


async def test_changing_reminder_minutes_replans_future_reminders(
    app: Any, client: httpx.AsyncClient, clock: MovableClock, pair: tuple[Person, Person, int]
) -> None:
    requester, _, _ = pair
    start = clock.now.replace(second=0) + timedelta(days=2)
    meeting = await confirmed(client, pair, start)
    none = await client.patch("/api/v3/me", json={"reminder_minutes": []}, headers=requester.auth)
    assert none.json()["reminder_minutes"] == []
    more = await client.patch(
        "/api/v3/me", json={"reminder_minutes": [30, 120]}, headers=requester.auth
    )
    assert more.status_code == 200
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-reminder")
    pending = sorted(due for _, status, due in rows if status == "pending")
    # The recipient's default 60, and the requester's 120 and 30; the requester's old 60
    # was cancelled.
    assert pending == [start - timedelta(minutes=m) for m in (120, 60, 30)]
    assert Counter(status for _, status, _ in rows)["cancelled"] == 1


async def test_the_expiring_nudge_goes_once_to_the_awaited_participant(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
    inbox: tuple[Inbox, int],
) -> None:
    _, recipient, _ = pair
    await register(app, client, recipient, {"platform": "fcm", "token": "carl-phone"})
    start = clock.now.replace(second=0) + timedelta(days=3)
    meeting = await request(client, pair, start, title=TITLE)
    worker = make_worker(app, providers, clock)
    clock.now = start - timedelta(hours=24) - timedelta(minutes=1)
    await worker.drain()
    assert subjects(inbox, "Waiting for your answer") == []

    clock.advance(minutes=2)
    await worker.drain()
    clock.advance(hours=1)
    await worker.drain()
    [(to, subject)] = subjects(inbox, "Waiting for your answer")
    assert recipient.email in to and "Rita Requester" in subject
    assert fcm_types(google)["meeting-expiring"] == 1
    [push] = [m for m in fcm_sends(google[1]) if m["data"]["type"] == "meeting-expiring"]
    assert push["notification"]["title"] == "MEETING REQUEST WAITING"
    html = next(m for m in inbox[0].messages() if "Waiting" in str(m["Subject"])).get_body(
        ("html",)
    )
    assert html is not None
    assert "Budget &lt;review&gt; &amp; plan" in html.get_content()
    # Answered afterwards: the expired notice never comes.
    answer = await client.post(f"/api/v3/meeting/{meeting['id']}/reject", headers=recipient.auth)
    assert answer.status_code == 200
    clock.now = start + timedelta(minutes=10)
    await record_clock_statuses(app.state.sessionmaker, app.state.settings, clock.now)
    await worker.drain()
    assert subjects(inbox, "Meeting request expired") == []


async def test_no_expiring_nudge_for_a_request_made_within_a_day_of_its_start(
    app: Any, client: httpx.AsyncClient, clock: MovableClock, pair: tuple[Person, Person, int]
) -> None:
    meeting = await request(client, pair, clock.now.replace(second=0) + timedelta(hours=5))
    assert await scheduled(app.state.sessionmaker, meeting["id"], "meeting-expiring") == []


async def test_a_confirmed_request_gets_no_nudge(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    inbox: tuple[Inbox, int],
) -> None:
    start = clock.now.replace(second=0) + timedelta(days=3)
    meeting = await confirmed(client, pair, start)
    clock.now = start - timedelta(hours=23)
    await make_worker(app, providers, clock).drain()
    assert subjects(inbox, "Waiting for your answer") == []
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-expiring")
    assert [status for _, status, _ in rows] == ["cancelled"]


async def test_expired_notice_goes_once_with_a_prefilled_request_again_link(
    app: Any,
    client: httpx.AsyncClient,
    clock: MovableClock,
    pair: tuple[Person, Person, int],
    providers: Providers,
    google: tuple[FakeGoogle, HttpPeer],
    inbox: tuple[Inbox, int],
) -> None:
    requester, recipient, team_id = pair
    await register(app, client, requester, {"platform": "fcm", "token": "rita-phone"})
    start = clock.now.replace(second=0) + timedelta(hours=5)
    link = "https://zoom.us/j/1?pwd=a&b=c"
    meeting = await request(client, pair, start, title=TITLE, notes=NOTES, link=link)
    clock.now = start + timedelta(minutes=3)
    # Two workers' clock jobs (and a read) see the expiry: one notice.
    for _ in range(2):
        await record_clock_statuses(app.state.sessionmaker, app.state.settings, clock.now)
    history = await client.get(f"/api/v3/meeting/{meeting['id']}/history", headers=requester.auth)
    assert [e["action"] for e in history.json()["data"]] == ["created", "expired"]
    worker = make_worker(app, providers, clock)
    await worker.drain()
    await worker.drain()

    [(to, subject)] = subjects(inbox, "Meeting request expired")
    assert requester.email in to and "Carl Client" in subject
    assert fcm_types(google)["meeting-expired"] == 1
    message: EmailMessage = next(
        m for m in inbox[0].messages() if str(m["Subject"]).startswith("Meeting request expired")
    )
    plain = message.get_body(("plain",))
    assert plain is not None
    [again] = [
        line.split(": ", 1)[1].strip()
        for line in plain.get_content().splitlines()
        if line.startswith("Request again")
    ]
    parts = urlsplit(again)
    assert parts.path == "/meetings/new"
    assert parse_qs(parts.query) == {
        "team": [str(team_id)],
        "member": [str(recipient.id)],
        "link": [link],
        "title": [TITLE],
        "notes": [NOTES],
    }
    rows = await scheduled(app.state.sessionmaker, meeting["id"], "meeting-expired")
    assert sorted(channel for channel, _, _ in rows) == ["email", "fcm"]
