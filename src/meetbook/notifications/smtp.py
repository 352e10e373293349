"""Email delivery over SMTP, with failures classified for the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal, Protocol

import aiosmtplib

from meetbook.notifications.errors import PermanentDeliveryError, TemporaryDeliveryError

log = logging.getLogger("meetbook.notifications")

Security = Literal["none", "starttls", "tls"]
_DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}


class EmailSender(Protocol):
    """Anything that can deliver a rendered email (SMTP, the dev mailbox)."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` or raise a TemporaryDeliveryError / PermanentDeliveryError."""
        ...


@dataclass(eq=False)
class _Connection:
    client: aiosmtplib.SMTP
    loop: asyncio.AbstractEventLoop
    idle_since: float = 0.0
    sent: int = 0


class SmtpSender:
    """Sends messages over SMTP, keeping a few connections open between messages.

    Opening a connection (TCP, EHLO, STARTTLS, AUTH) costs several round trips and more
    CPU than the message itself, so a connection that delivered a message is kept for
    the next one: up to `max_idle` of them, each for at most `idle_seconds` and
    `messages_per_connection` messages (servers limit both). `max_idle=0` opens a fresh
    connection per message.
    """

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        security: Security = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        max_idle: int = 8,
        idle_seconds: float = 30.0,
        messages_per_connection: int = 100,
    ) -> None:
        """`port` defaults by security (25, 587, 465); `tls_context` overrides the system CAs."""
        if security not in _DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {security!r}")
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self.messages_per_connection = messages_per_connection
        self._idle: list[_Connection] = []
        self.host = host
        self.port = port or _DEFAULT_PORTS[security]
        self.security = security
        self.username = username or None
        self.password = password or None
        self.timeout = timeout
        self.tls_context = tls_context

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` to the recipients in its To/Cc/Bcc headers."""
        try:
            refused = await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            first = error.recipients[0]
            raise _classify(first.code, first.message, refused_recipient=True) from error
        except aiosmtplib.SMTPResponseException as error:
            raise _classify(error.code, error.message) from error
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError) as error:
            raise TemporaryDeliveryError(f"SMTP server unreachable: {error}") from error
        except aiosmtplib.SMTPServerDisconnected as error:
            raise TemporaryDeliveryError(f"SMTP server disconnected: {error}") from error
        except aiosmtplib.SMTPNotSupported as error:
            # e.g. STARTTLS or AUTH configured but not offered: retrying will not change that.
            raise PermanentDeliveryError(f"SMTP server does not support it: {error}") from error
        except (OSError, TimeoutError) as error:
            # Refused connections, DNS failures, TLS failures (an SSL error is also
            # a ValueError, hence this order).
            raise TemporaryDeliveryError(f"SMTP connection failed: {error}") from error
        except ValueError as error:
            # aiosmtplib refuses addresses that could smuggle SMTP commands.
            raise PermanentDeliveryError(f"unusable email address: {error}") from error
        # With several recipients the server may refuse some and accept the rest.
        if refused:
            response = next(iter(refused.values()))
            raise _classify(response.code, response.message, refused_recipient=True)

    async def aclose(self) -> None:
        """Say QUIT on the connections kept open."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._close(connection, polite=True)

    async def _send(self, message: EmailMessage) -> dict[str, Any]:
        connection = self._reusable()
        if connection is not None:
            try:
                return await self._send_on(connection, message)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pass  # the server dropped the idle connection: go on with a fresh one
            except aiosmtplib.SMTPResponseException as error:
                if error.code != 421:  # 421: the server is closing this (idle) channel
                    raise
        connection = _Connection(self._client(), asyncio.get_running_loop())
        try:
            await connection.client.connect()
        except BaseException:
            await self._close(connection)
            raise
        return await self._send_on(connection, message)

    async def _send_on(self, connection: _Connection, message: EmailMessage) -> dict[str, Any]:
        """Send on `connection`; keep it for reuse only after a clean success."""
        try:
            refused, _ = await connection.client.send_message(message)
        except BaseException:
            await self._close(connection)
            raise
        connection.sent += 1
        connection.idle_since = connection.loop.time()
        if (
            not refused
            and len(self._idle) < self.max_idle
            and connection.sent < self.messages_per_connection
        ):
            self._idle.append(connection)
        else:
            await self._close(connection, polite=True)
        return refused

    def _reusable(self) -> _Connection | None:
        """The most recently used open connection, dropping any too old or of another loop."""
        loop = asyncio.get_running_loop()
        while self._idle:
            connection = self._idle.pop()
            if connection.loop is not loop:
                continue  # its transport belongs to a closed or other event loop
            if (
                connection.client.is_connected
                and loop.time() - connection.idle_since < self.idle_seconds
            ):
                return connection
            connection.client.close()
        return None

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            # False, not None: "none" must not silently try STARTTLS and fail on a bad cert.
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout,
        )

    async def _close(self, connection: _Connection, *, polite: bool = False) -> None:
        if connection.loop is not asyncio.get_running_loop():
            return  # its transport cannot be touched from here; dropping it is all we can do
        client = connection.client
        if polite and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit(timeout=min(self.timeout, 5.0))
        client.close()


def _classify(
    code: int, text: str, *, refused_recipient: bool = False
) -> TemporaryDeliveryError | PermanentDeliveryError:
    # The server's text may quote addresses and internals: the log has it, users see the code.
    log.warning("notification.smtp.refused", extra={"smtp_code": code, "answer": text[:500]})
    what = "refused the recipient" if refused_recipient else "refused the message"
    reason = f"SMTP {code}: the mail server {what}"
    if 500 <= code < 600:
        return PermanentDeliveryError(reason)
    return TemporaryDeliveryError(reason)
