"""The dev mailbox: with no SMTP host configured, emails are kept in `dev_emails`."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import getaddresses, make_msgid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.models import DevEmail


class DevMailbox:
    """An EmailSender that stores each message for `/dev/mailbox` instead of sending it."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def send(self, message: EmailMessage) -> None:
        message_id = str(message.get("Message-ID") or make_msgid())
        row = DevEmail(
            message_id=message_id[:255],
            to_address=str(message.get("To", "")),
            subject=str(message.get("Subject", "")),
            raw=message.as_string(),
            restricted_to=_restricted_to(message),
        )
        async with self.sessionmaker() as session:
            # A redelivery has the same Message-ID: keep the first copy only.
            exists = select(DevEmail.id).where(DevEmail.message_id == row.message_id)
            if await session.scalar(exists) is not None:
                return
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # stored concurrently by another worker
                await session.rollback()


# Set on account emails (accounts/emails.py): their links act for the reader.
RESTRICTED_HEADER = "X-Meetbook-Account-Email"


def _restricted_to(message: EmailMessage) -> str | None:
    if RESTRICTED_HEADER not in message:
        return None
    addresses = getaddresses([str(message.get("To", ""))])
    return addresses[0][1].lower()[:254] if addresses else ""
