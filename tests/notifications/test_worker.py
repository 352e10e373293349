"""The outbox worker against a real SMTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from meetbook.models import Notification
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers, RetryPolicy
from tests.conftest import World, create_meeting, future
from tests.notifications.peers import Inbox, LocalSmtpServer

FAST_RETRY = RetryPolicy(max_attempts=3, base_seconds=0.05, cap_seconds=0.2)


@pytest.fixture
def inbox():
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


def make_worker(app, port: int, **options) -> OutboxWorker:
    sender = SmtpSender("127.0.0.1", port, timeout=5)
    options.setdefault("retry", FAST_RETRY)
    return OutboxWorker(
        app.state.sessionmaker, Providers(email=sender), app.state.settings, **options
    )


async def _rows(sessionmaker) -> list[Notification]:
    async with sessionmaker() as session:
        # The meeting's own notices, not its timed ones (the expiring nudge, days ahead).
        query = select(Notification).where(Notification.schedule_key.is_(None))
        return list((await session.scalars(query.order_by(Notification.id))).all())


@pytest.fixture
async def flow(client, world: World, clock):
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    team_id = await world.team(requester, recipient)
    created = await create_meeting(
        client, requester, recipient, team_id, future(clock, 5, 14), link="https://zoom.us/j/1"
    )
    return requester, recipient, created.json()


async def test_created_email_reaches_the_recipient(app, inbox, flow, sessionmaker) -> None:
    handler, port = inbox
    _requester, recipient, meeting = flow
    await make_worker(app, port).drain()
    [message] = handler.messages()
    assert message["Subject"] == "You have received new meeting request!"
    assert recipient.email in message["To"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Rita Requester" in text and "Rita Requester" in html
    assert "http://meetbook.test/meetings?tab=pending-meeting" in text
    assert "https://zoom.us/j/1" in text
    assert meeting["booking_number"] in text
    assert "America/New_York" in text and "UTC" in text
    [row] = await _rows(sessionmaker)
    assert (row.status, row.attempts, row.channel) == ("sent", 1, "email")
    assert row.sent_at is not None


async def test_every_event_mails_the_right_people(app, client, inbox, flow) -> None:
    handler, port = inbox
    requester, recipient, meeting = flow
    worker = make_worker(app, port)
    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    await client.post(
        f"/api/v3/meeting/{meeting['id']}/cancel", headers=requester.auth, json={"reason": "Ill"}
    )
    await worker.drain()
    sent = [(m["To"], m["Subject"]) for m in handler.messages()]
    assert len(sent) == 5  # created; confirmed ×2 (with invites); cancelled ×2 (with CANCEL)
    confirmed = [m for m in handler.messages() if "confirmed" in m["Subject"].lower()]
    assert {requester.email in m["To"] or recipient.email in m["To"] for m in confirmed} == {True}
    assert all(any(p.get_content_type() == "text/calendar" for p in m.walk()) for m in confirmed)
    cancelled = [m for m in handler.messages() if "cancel" in m["Subject"].lower()]
    assert len(cancelled) == 2
    assert all("METHOD:CANCEL" in m.as_string() for m in cancelled)


async def test_smtp_down_then_up_delivers_after_a_retry(app, flow, sessionmaker) -> None:
    worker_port_holder = LocalSmtpServer(Inbox())
    worker_port_holder.start()
    port = worker_port_holder.port
    worker_port_holder.stop()  # nothing listens on `port` now
    worker = make_worker(app, port)
    assert await worker.run_once() == 1
    [row] = await _rows(sessionmaker)
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    try:
        worker.providers.email = SmtpSender("127.0.0.1", server.port, timeout=5)
        await asyncio.sleep(0.25)  # past the (fast) backoff
        await worker.drain()
        [row] = await _rows(sessionmaker)
        assert row.status == "sent" and row.attempts == 2
        assert len(handler.messages()) == 1
    finally:
        server.stop()


async def test_permanent_rejection_fails_with_the_reason(app, inbox, flow, sessionmaker) -> None:
    handler, port = inbox
    handler.rcpt_reply = "550 5.1.1 No such mailbox here"
    await make_worker(app, port).drain()
    [row] = await _rows(sessionmaker)
    assert row.status == "failed" and row.attempts == 1
    # The code and a short reason; the server's own words stay in the log.
    assert row.last_error == "SMTP 550: the mail server refused the recipient"


async def test_gives_up_after_the_last_attempt(app, flow, sessionmaker, unused_port) -> None:
    worker = make_worker(app, unused_port)
    for _ in range(FAST_RETRY.max_attempts):
        await asyncio.sleep(0.25)
        await worker.run_once()
    [row] = await _rows(sessionmaker)
    assert row.status == "failed" and row.attempts == FAST_RETRY.max_attempts
    assert row.last_error.startswith("gave up after 3 attempts")


async def test_expired_lease_is_picked_up_again(app, inbox, flow, sessionmaker) -> None:
    handler, port = inbox
    async with sessionmaker() as session, session.begin():
        # As if a worker claimed the row and was killed: lease held, long expired.
        from datetime import timedelta

        from meetbook.models import utcnow

        await session.execute(
            update(Notification).values(
                lease_owner="dead-worker",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                attempts=1,
            )
        )
    await make_worker(app, port).drain()
    [row] = await _rows(sessionmaker)
    assert row.status == "sent" and row.attempts == 2
    assert len(handler.messages()) == 1


async def test_live_lease_is_not_taken(app, inbox, flow, sessionmaker) -> None:
    _handler, port = inbox
    first, second = make_worker(app, port), make_worker(app, port)
    assert await first._claim()
    assert await second._claim() == []


async def test_message_id_is_stable_across_redelivery(app, inbox, flow, sessionmaker) -> None:
    handler, port = inbox
    worker = make_worker(app, port)
    await worker.drain()
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Notification).values(status="pending", lease_owner=None))
    await worker.drain()
    ids = {m["Message-ID"] for m in handler.messages()}
    assert len(handler.messages()) == 2 and len(ids) == 1


async def test_rolled_back_change_sends_nothing(
    app, client, inbox, world: World, clock, sessionmaker
) -> None:
    handler, port = inbox
    requester = await world.person()
    recipient = await world.person()
    team_id = await world.team(requester, recipient)
    # Fails after validation (slot taken on confirm of an overlapping meeting) → rollback.
    a = (
        await create_meeting(client, requester, recipient, team_id, future(clock, 3, 10) + "Z")
    ).json()
    b = (
        await create_meeting(
            client,
            requester,
            recipient,
            team_id,
            future(clock, 3, 10).replace(":00:00", ":30:00") + "Z",
        )
    ).json()
    assert (
        await client.post(f"/api/v3/meeting/{a['id']}/confirm", headers=recipient.auth)
    ).status_code == 200
    assert (
        await client.post(f"/api/v3/meeting/{b['id']}/confirm", headers=recipient.auth)
    ).status_code == 409
    events = [(r.event, r.meeting_id) for r in await _rows(sessionmaker)]
    assert ("meeting-confirmed", b["id"]) not in events
    await make_worker(app, port).drain()
    assert len(handler.messages()) == 4  # two created + two confirmed for `a`


async def test_in_process_worker_wakes_on_commit(database_url, tmp_path, inbox, clock) -> None:
    """`meetbook serve`'s worker delivers within a fraction of a second of the answer."""
    import httpx

    from meetbook.app import create_app
    from tests.conftest import World, _empty_tables, settings_for

    handler, port = inbox
    await _empty_tables(database_url)
    settings = settings_for(database_url, tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    app = create_app(settings, run_worker=True, clock=clock)
    async with app.router.lifespan_context(app):
        app.state.worker.poll_seconds = 30  # only a wake-up can deliver in time
        world = World(app.state.sessionmaker)
        a, b = await world.person(), await world.person()
        team_id = await world.team(a, b)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            loop = asyncio.get_running_loop()
            started = loop.time()
            response = await create_meeting(http, a, b, team_id, future(clock))
            assert response.status_code == 201
            while not handler.envelopes and loop.time() - started < 5:
                await asyncio.sleep(0.01)
            assert handler.envelopes, "not delivered within 5 s"
            assert loop.time() - started < 1.0
