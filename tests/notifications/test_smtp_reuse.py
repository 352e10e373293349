"""SmtpSender keeps connections open between messages, against a real aiosmtpd server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session

from meetbook.notifications.email import render_email
from meetbook.notifications.smtp import SmtpSender

from .factories import BASE_URL, DOMAIN, MAIL_FROM, make_notice
from .peers import Inbox, LocalSmtpServer


@dataclass
class ConnectionLog(Inbox):
    """An Inbox that notes which client connection carried each message, and QUITs."""

    peers: list[Any] = field(default_factory=list)
    quits: int = 0
    hang_up_after_data: bool = False  # close the connection right after accepting a message

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        self.peers.append(session.peer)
        if self.hang_up_after_data:
            # After the 250 is queued: the client sees its message accepted, then a hang-up.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 Bye"


@pytest.fixture
def smtp() -> Iterator[tuple[ConnectionLog, int]]:
    handler = ConnectionLog()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()


def message(number: int) -> Any:
    notice = make_notice("meeting-created", notification_id=number)
    return render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)


async def test_consecutive_messages_share_one_connection(smtp: tuple[ConnectionLog, int]) -> None:
    handler, port = smtp
    sender = SmtpSender("127.0.0.1", port, timeout=5)

    for number in range(3):
        await sender.send(message(number))
    await sender.aclose()

    assert len(handler.envelopes) == 3
    assert len(set(handler.peers)) == 1
    assert handler.quits == 1


async def test_max_idle_zero_opens_a_connection_per_message(
    smtp: tuple[ConnectionLog, int],
) -> None:
    handler, port = smtp
    sender = SmtpSender("127.0.0.1", port, timeout=5, max_idle=0)

    for number in range(3):
        await sender.send(message(number))

    assert len(set(handler.peers)) == 3
    assert handler.quits == 3


async def test_a_connection_is_retired_after_its_message_limit(
    smtp: tuple[ConnectionLog, int],
) -> None:
    handler, port = smtp
    sender = SmtpSender("127.0.0.1", port, timeout=5, messages_per_connection=2)

    for number in range(3):
        await sender.send(message(number))
    await sender.aclose()

    first, second, third = handler.peers
    assert first == second != third
    assert handler.quits == 2


async def test_a_connection_the_server_hung_up_is_replaced(
    smtp: tuple[ConnectionLog, int],
) -> None:
    handler, port = smtp
    handler.hang_up_after_data = True
    sender = SmtpSender("127.0.0.1", port, timeout=5)

    for number in range(3):
        await sender.send(message(number))  # no error: the dead connection is not reused

    assert len(handler.envelopes) == 3
    assert len(set(handler.peers)) == 3


async def test_a_server_gone_quiet_is_dropped_after_idle_seconds(
    smtp: tuple[ConnectionLog, int],
) -> None:
    handler, port = smtp
    sender = SmtpSender("127.0.0.1", port, timeout=5, idle_seconds=0)

    await sender.send(message(1))
    await sender.send(message(2))

    assert len(set(handler.peers)) == 2
