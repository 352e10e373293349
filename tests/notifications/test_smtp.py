"""SmtpSender against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meetbook.notifications.content import EVENTS, Event
from meetbook.notifications.email import render_email
from meetbook.notifications.errors import PermanentDeliveryError, TemporaryDeliveryError
from meetbook.notifications.smtp import EmailSender, SmtpSender

from .factories import BASE_URL, DOMAIN, MAIL_FROM, make_notice
from .peers import (
    Inbox,
    LocalSmtpServer,
    SelfSignedCert,
    make_self_signed_cert,
    password_authenticator,
)

StartServer = Callable[..., tuple[LocalSmtpServer, Inbox]]


@pytest.fixture
def start_smtp() -> Iterator[StartServer]:
    """Start aiosmtpd servers with the given Controller/SMTP options; stopped afterwards."""
    started: list[LocalSmtpServer] = []

    def start(inbox: Inbox | None = None, **options: Any) -> tuple[LocalSmtpServer, Inbox]:
        inbox = inbox or Inbox()
        server = LocalSmtpServer(inbox, **options)
        server.start()
        started.append(server)
        return server, inbox

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCert:
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def render(event: Event, **overrides: Any) -> Any:
    return render_email(
        make_notice(event, **overrides), mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN
    )


def test_smtp_sender_satisfies_the_email_sender_protocol() -> None:
    sender: EmailSender = SmtpSender("127.0.0.1", 25)
    assert sender is not None


@pytest.mark.parametrize("event", EVENTS)
async def test_each_event_email_is_delivered_over_smtp(
    start_smtp: StartServer, event: Event
) -> None:
    server, inbox = start_smtp()
    notice = make_notice(event)
    message = render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)

    await SmtpSender("127.0.0.1", server.port, timeout=5).send(message)

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "no-reply@meet.example.test"
    assert envelope.rcpt_tos == [notice.to_email]
    [received] = inbox.messages()
    assert (
        received["Message-ID"]
        == f"<notification-{notice.notification_id}.meeting-123@mb-7q4k-9x2p.{DOMAIN}>"
    )
    assert received["To"].addresses[0].addr_spec == notice.to_email
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    for body in (text, html):
        assert "MB-7Q4K-9X2P" in body
        assert "https://zoom.us/j/1234567890" in body
        assert f"{BASE_URL}/meetings/123" in body
        assert "Monday 15 December 2025, 14:00 UTC" in body


async def test_meeting_created_email_as_received(start_smtp: StartServer) -> None:
    server, inbox = start_smtp()

    await SmtpSender("127.0.0.1", server.port, timeout=5).send(render("meeting-created"))

    [received] = inbox.messages()
    assert received["Subject"] == "You have received new meeting request!"
    text = received.get_body(("plain",)).get_content()
    assert "Alice Requester requested a meeting with you." in text
    assert f"{BASE_URL}/meetings?tab=pending-meeting" in text
    assert "Monday 15 December 2025, 09:00 EST (America/New_York)" in text


async def test_starttls_with_login_and_a_custom_ca(
    start_smtp: StartServer, cert: SelfSignedCert
) -> None:
    server, inbox = start_smtp(
        tls_context=cert.server_context(),
        require_starttls=True,
        authenticator=password_authenticator("mailer", "s3cret"),
        auth_required=True,
    )
    sender = SmtpSender(
        "127.0.0.1",
        server.port,
        security="starttls",
        username="mailer",
        password="s3cret",
        timeout=5,
        tls_context=cert.client_context(),
    )

    await sender.send(render("meeting-created"))

    assert len(inbox.envelopes) == 1


async def test_wrong_password_is_permanent(start_smtp: StartServer, cert: SelfSignedCert) -> None:
    server, inbox = start_smtp(
        tls_context=cert.server_context(),
        require_starttls=True,
        authenticator=password_authenticator("mailer", "s3cret"),
        auth_required=True,
    )
    sender = SmtpSender(
        "127.0.0.1",
        server.port,
        security="starttls",
        username="mailer",
        password="wrong",
        timeout=5,
        tls_context=cert.client_context(),
    )

    with pytest.raises(PermanentDeliveryError, match="535"):
        await sender.send(render("meeting-created"))
    assert inbox.envelopes == []


async def test_starttls_rejects_an_untrusted_certificate(
    start_smtp: StartServer, cert: SelfSignedCert
) -> None:
    server, inbox = start_smtp(tls_context=cert.server_context(), require_starttls=True)
    # No custom CA: the self-signed certificate must not be trusted.
    sender = SmtpSender("127.0.0.1", server.port, security="starttls", timeout=5)

    with pytest.raises(TemporaryDeliveryError):
        await sender.send(render("meeting-created"))
    assert inbox.envelopes == []


async def test_implicit_tls(start_smtp: StartServer, cert: SelfSignedCert) -> None:
    server, inbox = start_smtp(ssl_context=cert.server_context())
    sender = SmtpSender(
        "127.0.0.1", server.port, security="tls", timeout=5, tls_context=cert.client_context()
    )

    await sender.send(render("meeting-confirmed"))

    assert len(inbox.envelopes) == 1


async def test_recipient_refused_with_5xx_is_permanent_with_the_code_not_the_text(
    start_smtp: StartServer,
) -> None:
    server, _ = start_smtp(Inbox(rcpt_reply="550 5.1.1 Mailbox does not exist"))

    with pytest.raises(PermanentDeliveryError, match="550") as caught:
        await SmtpSender("127.0.0.1", server.port, timeout=5).send(render("meeting-created"))
    # The server's text is for the log: the reason is shown to both participants.
    assert caught.value.reason == "SMTP 550: the mail server refused the recipient"


async def test_data_refused_with_5xx_is_permanent(start_smtp: StartServer) -> None:
    server, _ = start_smtp(Inbox(data_reply="554 5.7.1 Message rejected as spam"))

    with pytest.raises(PermanentDeliveryError, match="554: the mail server refused the message"):
        await SmtpSender("127.0.0.1", server.port, timeout=5).send(render("meeting-created"))


async def test_4xx_is_temporary(start_smtp: StartServer) -> None:
    server, _ = start_smtp(Inbox(rcpt_reply="451 4.7.1 Greylisted, try again later"))

    with pytest.raises(TemporaryDeliveryError, match="451"):
        await SmtpSender("127.0.0.1", server.port, timeout=5).send(render("meeting-created"))


async def test_connection_refused_is_temporary(unused_port: int) -> None:
    with pytest.raises(TemporaryDeliveryError):
        await SmtpSender("127.0.0.1", unused_port, timeout=5).send(render("meeting-created"))


async def test_a_silent_server_times_out_as_temporary(silent_port: int) -> None:
    with pytest.raises(TemporaryDeliveryError):
        await SmtpSender("127.0.0.1", silent_port, timeout=0.5).send(render("meeting-created"))


def test_unknown_security_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpSender("127.0.0.1", security="ssl")  # type: ignore[arg-type]
