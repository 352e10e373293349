"""The emailed invites carry the meeting's UID and SEQUENCE, as its .ics does."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from icalendar import Calendar

from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers
from tests.conftest import World, create_meeting, future
from tests.notifications.peers import Inbox, LocalSmtpServer


@pytest.fixture
def inbox():
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


def _invites(messages: list[EmailMessage]) -> list[tuple[str, str, int]]:
    found = []
    for message in messages:
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                calendar = Calendar.from_ical(part.get_content())
                [event] = calendar.events
                found.append((str(calendar["METHOD"]), str(event["UID"]), int(event["SEQUENCE"])))
    return found


async def test_confirm_and_cancel_invites_match_the_meeting(
    app, client, world: World, clock, inbox
) -> None:
    handler, port = inbox
    worker = OutboxWorker(
        app.state.sessionmaker,
        Providers(email=SmtpSender("127.0.0.1", port, timeout=5)),
        app.state.settings,
    )
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    meeting = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()
    await client.post(f"/api/v3/meeting/{meeting['id']}/confirm", headers=recipient.auth)
    await worker.drain()
    uid = f"meeting-{meeting['booking_number']}@meetbook.test"
    assert _invites(handler.messages()) == [("REQUEST", uid, 0), ("REQUEST", uid, 0)]

    cancelled = await client.post(f"/api/v3/meeting/{meeting['id']}/cancel", headers=recipient.auth)
    await worker.drain()
    sequence = cancelled.json()["sequence"]
    assert sequence == 1
    assert _invites(handler.messages())[2:] == [("CANCEL", uid, sequence)] * 2
    ics = await client.get(f"/api/v3/meeting/{meeting['id']}/ics", headers=requester.auth)
    [event] = Calendar.from_ical(ics.content).events
    assert (str(event["UID"]), int(event["SEQUENCE"])) == (uid, sequence)
