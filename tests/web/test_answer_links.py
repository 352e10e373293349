"""Answering from the email (CONTRACT §2): links read from emails a real SMTP server received.

GET shows and changes nothing; POST acts once, as the participant the email went to; a
link of an older sequence, a used link and a forwarded link used by someone signed in
as another person all say why they do not work.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar
from sqlalchemy import select, update

from meetbook.meetings import service
from meetbook.models import Meeting, MeetingHistory, User
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.notifications.peers import Inbox, LocalSmtpServer
from tests.web.conftest import Person, World, sign_in

_LINK = re.compile(r"http://testserver(/answer/[A-Za-z0-9_.\-]+/(?:confirm|reject|propose))")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


async def _mail(app: FastAPI, inbox: tuple[Inbox, int], to: Person) -> list[EmailMessage]:
    """Deliver the outbox over SMTP; the messages `to` received since the last call."""
    handler, port = inbox
    handler.envelopes.clear()
    worker = OutboxWorker(
        app.state.sessionmaker,
        Providers(email=SmtpSender("127.0.0.1", port, timeout=5)),
        app.state.settings,
    )
    await worker.drain()
    return [m for m in handler.messages() if to.email in str(m["To"])]


def _links(message: EmailMessage) -> dict[str, str]:
    """The answer links of the text part, by action; the HTML part carries the same."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    found = {path.rsplit("/", 1)[1]: path for path in _LINK.findall(text)}
    assert sorted(found) == ["confirm", "propose", "reject"], text
    assert all(f"http://testserver{path}" in html for path in found.values())
    return found


async def _stored(app: FastAPI, meeting_id: int) -> Meeting:
    async with app.state.sessionmaker() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
        return meeting


async def _history(app: FastAPI, meeting_id: int) -> list[tuple[str, int | None]]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(MeetingHistory)
            .where(MeetingHistory.meeting_id == meeting_id)
            .order_by(MeetingHistory.id)
        )
        return [(row.action, row.actor_id) for row in rows]


async def _propose(app: FastAPI, meeting_id: int, who: Person, start: datetime) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        user = await session.get(User, who.id)
        assert user is not None
        await service.propose_meeting_time(
            session, meeting_id, user, start.isoformat(), None, datetime.now(UTC)
        )


@pytest.fixture
async def pair(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Rita Requester", timezone="Europe/London")
    recipient = await world.person("Carl Client", timezone="America/New_York")
    return requester, recipient, await world.team(requester, recipient)


def _fresh(app: FastAPI) -> httpx.AsyncClient:
    """A browser with no cookies: the email's reader, not signed in."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Accept": "text/html"},
    )


async def test_get_changes_nothing_post_acts_once(app, world, pair, inbox) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    [email] = await _mail(app, inbox, recipient)
    links = _links(email)

    async with _fresh(app) as browser:
        for _ in range(3):  # a mail scanner fetching every link, repeatedly
            for path in links.values():
                page = await browser.get(path)
                assert page.status_code == 200
        assert "Confirm the meeting" in (await browser.get(links["confirm"])).text
        assert (await _stored(app, meeting_id)).status == "pending"
        assert await _history(app, meeting_id) == [("created", requester.id)]

        done = await browser.post(links["confirm"])

        assert done.status_code == 200, done.text
        assert "You confirmed the meeting with Rita Requester" in done.text
        assert (await _stored(app, meeting_id)).status == "confirmed"
        assert await _history(app, meeting_id) == [
            ("created", requester.id),
            ("confirmed", recipient.id),
        ]
        again = await browser.post(links["confirm"])
        assert again.status_code == 410
        assert "already been used" in again.text
        assert 'href="/login"' in again.text
        other = await browser.post(links["reject"])  # one answer per email
        assert other.status_code == 410
    assert (await _stored(app, meeting_id)).status == "confirmed"


async def test_a_link_for_an_older_sequence_fails(app, world, pair, inbox) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    [created] = await _mail(app, inbox, recipient)
    old = _links(created)
    new_start = (datetime.now(UTC) + timedelta(days=4)).replace(microsecond=0, second=0)
    await _propose(app, meeting_id, requester, new_start)  # sequence 0 → 1
    [proposed] = await _mail(app, inbox, recipient)
    assert proposed["Subject"].startswith("New time proposed: Rita Requester")
    new = _links(proposed)

    async with _fresh(app) as browser:
        stale = await browser.post(old["confirm"])
        assert stale.status_code == 410
        assert "changed since this email was sent" in stale.text
        assert (await _stored(app, meeting_id)).status == "pending"

        fresh = await browser.post(new["confirm"])
        assert fresh.status_code == 200
    stored = await _stored(app, meeting_id)
    assert (stored.status, stored.start_time) == ("confirmed", int(new_start.timestamp()))


async def test_a_forwarded_link_acts_only_for_its_recipient(app, world, pair, inbox) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    links = _links((await _mail(app, inbox, recipient))[0])

    # Signed in as someone else (here the requester): the link is not theirs to use.
    async with _fresh(app) as signed_in:
        await sign_in(signed_in, requester)
        seen = await signed_in.get(links["confirm"])
        assert seen.status_code == 403
        assert "sent to someone else" in seen.text
        refused = await signed_in.post(links["confirm"])
        assert refused.status_code == 403
    assert (await _stored(app, meeting_id)).status == "pending"

    # The token names its reader under the signature: naming another breaks it.
    token = links["confirm"].split("/")[2]
    payload, signature = token.split(".")
    values = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    values[1] = requester.id
    forged = base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode())
    forged_path = f"/answer/{forged.decode().rstrip('=')}.{signature}/confirm"
    async with _fresh(app) as browser:
        bad = await browser.post(forged_path)
        assert bad.status_code == 400
        assert "not valid" in bad.text
        # Whoever holds the link acts as the recipient it was sent to, and only them.
        done = await browser.post(links["reject"], data={"reason": "Not this week"})
        assert done.status_code == 200
    assert await _history(app, meeting_id) == [
        ("created", requester.id),
        ("rejected", recipient.id),
    ]
    assert (await _stored(app, meeting_id)).reason == "Not this week"


async def test_propose_from_the_email_moves_the_request(app, world, pair, inbox) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    links = _links((await _mail(app, inbox, recipient))[0])
    day = (datetime.now(UTC) + timedelta(days=5)).date()

    async with _fresh(app) as browser:
        form = await browser.get(links["propose"])
        assert "(in America/New_York)" in form.text
        wrong = await browser.post(links["propose"], data={"date": "2001-01-01T10:00"})
        assert wrong.status_code == 400
        assert "past" in wrong.text
        # A refused answer does not use the link up.
        done = await browser.post(
            links["propose"], data={"date": f"{day}T11:00", "reason": "Mornings are full"}
        )
        assert done.status_code == 200, done.text
    stored = await _stored(app, meeting_id)
    assert stored.awaiting_user_id == requester.id
    assert stored.sequence == 1
    assert datetime.fromtimestamp(stored.start_time, UTC).date() == day
    [proposed] = await _mail(app, inbox, requester)
    assert "Mornings are full" in proposed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    _links(proposed)  # the requester may now answer from their email


async def test_a_reschedule_accepted_from_the_email_sends_the_new_invite(
    app, world, pair, inbox
) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    async with app.state.sessionmaker() as session, session.begin():
        user = await session.get(User, recipient.id)
        assert user is not None
        await service.confirm_meeting(session, meeting_id, user, datetime.now(UTC))
    await _mail(app, inbox, recipient)
    new_start = (datetime.now(UTC) + timedelta(days=6)).replace(microsecond=0, second=0)
    await _propose(app, meeting_id, requester, new_start)
    [proposed] = await _mail(app, inbox, recipient)
    links = _links(proposed)
    assert "Accept the new time" in proposed.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    async with _fresh(app) as browser:
        assert "Accept the new time" in (await browser.get(links["confirm"])).text
        done = await browser.post(links["confirm"])
        assert done.status_code == 200, done.text

    invites = []
    handler, _ = inbox
    await _mail(app, inbox, recipient)
    for message in handler.messages():
        assert message["Subject"].startswith("Meeting rescheduled:")
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"][:1]
        invites.append(Calendar.from_ical(part.get_content()))
    assert len(invites) == 2  # both participants
    stored = await _stored(app, meeting_id)
    for calendar in invites:
        assert str(calendar["METHOD"]) == "REQUEST"
        event = calendar.events[0]
        assert str(event["UID"]).startswith(f"meeting-{stored.booking_number}@")
        assert int(event["SEQUENCE"]) == stored.sequence == 1
        assert event.decoded("DTSTART") == new_start


async def test_a_link_stops_working_when_the_meeting_starts(app, world, pair, inbox) -> None:
    requester, recipient, team_id = pair
    meeting_id = await world.meeting(requester, recipient, team_id, days=3)
    links = _links((await _mail(app, inbox, recipient))[0])
    async with app.state.sessionmaker() as session, session.begin():
        started = int(datetime.now(UTC).timestamp()) - 60
        await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting_id)
            .values(start_time=started, end_time=started + 3600)
        )
    async with _fresh(app) as browser:
        page = await browser.get(links["confirm"])
        assert page.status_code == 410
        assert "has started" in page.text
        assert (await browser.post(links["confirm"])).status_code == 410


async def test_the_email_and_its_link_pages_speak_the_recipient_s_language(
    app, world, pair, inbox
) -> None:
    requester, recipient, team_id = pair
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == recipient.id).values(locale="de"))
    await world.meeting(requester, recipient, team_id, days=3)
    [email] = await _mail(app, inbox, recipient)
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Ohne Anmeldung antworten" in text
    links = _links(email)

    async with _fresh(app) as browser:  # signed out, no Accept-Language: the addressee's
        page = await browser.get(links["confirm"])
        assert '<html lang="de">' in page.text and "Diesen Termin bestätigen" in page.text
        done = await browser.post(links["confirm"])
        assert "Sie haben den Termin mit Rita Requester am " in done.text
        again = await browser.post(links["confirm"])
        assert again.status_code == 410
        assert "Dieser Link wurde bereits verwendet" in again.text
