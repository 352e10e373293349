"""The delivery channels handed to the worker, built from the settings.

The push libraries (pywebpush/aiohttp for Web Push, google-auth for FCM) are imported only
when their channel is configured: together they cost about 0.2 s of start-up per process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.smtp import EmailSender, SmtpSender

if TYPE_CHECKING:
    from meetbook.notifications.fcm import FcmClient
    from meetbook.notifications.webpush import WebPushSender


@dataclass
class Providers:
    """The delivery channels the worker was given; push channels may be off."""

    email: EmailSender
    fcm: FcmClient | None = None
    webpush: WebPushSender | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for closer in self.closers:
            await closer()


def providers_from_settings(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> Providers:
    email: EmailSender
    if settings.smtp_host:
        email = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
        )
    else:
        email = DevMailbox(sessionmaker)
    providers = Providers(email=email)
    if isinstance(email, SmtpSender):
        providers.closers.append(email.aclose)  # QUIT the connections kept for reuse
    if settings.fcm_credentials:
        import httpx

        from meetbook.notifications.fcm import FcmClient

        http = httpx.AsyncClient(timeout=10.0)
        providers.fcm = FcmClient(settings.fcm_credentials, http, endpoint=settings.fcm_endpoint)
        providers.closers.append(http.aclose)
    if settings.vapid_private_key and settings.vapid_subject:
        from meetbook.notifications.webpush import WebPushSender

        providers.webpush = WebPushSender(
            settings.vapid_private_key,
            settings.vapid_subject,
            allow_private_targets=settings.allow_private_targets,
        )
    return providers
