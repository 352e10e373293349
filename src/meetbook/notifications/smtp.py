"""Email delivery over SMTP, with failures classified for the worker."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Literal, Protocol

import aiosmtplib

from meetbook.notifications.errors import PermanentDeliveryError, TemporaryDeliveryError

Security = Literal["none", "starttls", "tls"]
_DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}


class EmailSender(Protocol):
    """Anything that can deliver a rendered email (SMTP, the dev mailbox)."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` or raise a TemporaryDeliveryError / PermanentDeliveryError."""
        ...


class SmtpSender:
    """Sends each message over a fresh SMTP connection."""

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
    ) -> None:
        """`port` defaults by security (25, 587, 465); `tls_context` overrides the system CAs."""
        if security not in _DEFAULT_PORTS:
            raise ValueError(f"unknown SMTP security {security!r}")
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
            refused, _ = await aiosmtplib.send(
                message,
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
        except aiosmtplib.SMTPRecipientsRefused as error:
            first = error.recipients[0]
            raise _classify(first.code, first.message) from error
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
            address, response = next(iter(refused.items()))
            raise _classify(response.code, f"{address}: {response.message}")


def _classify(code: int, text: str) -> TemporaryDeliveryError | PermanentDeliveryError:
    reason = f"SMTP {code} {text}"
    if 500 <= code < 600:
        return PermanentDeliveryError(reason)
    return TemporaryDeliveryError(reason)
