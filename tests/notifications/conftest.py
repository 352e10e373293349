"""Fixtures shared by the notification provider tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.notifications.peers import Inbox, LocalSmtpServer


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound (nobody else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that completes TCP handshakes but never answers: a hung peer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on loopback: (its handler with the messages, its port)."""
    handler = Inbox()
    server = LocalSmtpServer(handler)
    server.start()
    yield handler, server.port
    server.stop()
