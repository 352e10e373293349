"""Helpers for the people-and-teams tests: admins, SMTP, links from received emails."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.accounts import service as accounts
from meetbook.models import User
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers, RetryPolicy

STRONG = "violet-harbour-quartz-91"
STRONGER = "amber-glacier-lantern-47"


async def make_instance_admin(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(is_admin=True))


async def set_role(
    sessionmaker: async_sessionmaker[AsyncSession], team_id: int, user_id: int, role: str
) -> None:
    async with sessionmaker() as session, session.begin():
        await accounts.add_member(session, team_id, user_id, role)


def smtp_worker(app: Any, port: int) -> OutboxWorker:
    return OutboxWorker(
        app.state.sessionmaker,
        Providers(email=SmtpSender("127.0.0.1", port, timeout=5)),
        app.state.settings,
        retry=RetryPolicy(max_attempts=2, base_seconds=0.05, cap_seconds=0.1),
        clock=app.state.clock,
    )


def link_in(message: EmailMessage, path: str) -> str:
    """The token of the first `{base}{path}<token>` link in the plain-text part."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(re.escape(f"http://meetbook.test{path}") + r"([A-Za-z0-9._-]+)", text)
    assert found, text
    return found.group(1)
