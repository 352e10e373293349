"""Answering from the email (CONTRACT §2): signed, single-use links bound to a meeting's state.

A link's token is signed with the server's secret and names the meeting, the reader
(the participant whose answer the email asks for) and the meeting's state when the
email was written: its `sequence`, its status and the proposal it asks about. It works
while that state holds, before the meeting starts, and once: its use is recorded (as a
hash) in the transaction of the change it makes. Opening it changes nothing; only the
page's button (a POST) acts, as the token's reader, whoever holds the link.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.errors import Conflict
from meetbook.i18n import N_, _
from meetbook.meetings.machine import ActionName, awaited_user_id, effective_status
from meetbook.models import AnswerLinkUse, Meeting

# The events whose email asks its reader for an answer.
ANSWERABLE_EVENTS = frozenset({"meeting-created", "meeting-proposed"})
LinkAction = Literal["confirm", "reject", "propose"]
LINK_ACTIONS: tuple[LinkAction, ...] = ("confirm", "reject", "propose")
MAX_TOKEN_LENGTH = 400


@dataclass(frozen=True)
class AnswerGrant:
    """What a link lets its reader answer: this meeting, in this state."""

    meeting_id: int
    user_id: int
    sequence: int
    # "pending": a request (or counter-proposal); "confirmed": a proposed new time.
    status: str
    proposed_start: int | None

    def machine_action(self, link: LinkAction) -> ActionName:
        """The state machine's action behind a link: for a confirmed meeting's proposal,
        Confirm accepts it and Reject declines it."""
        if link == "propose" or self.status == "pending":
            return link
        return "accept" if link == "confirm" else "decline"


class AnswerLinks:
    """Signs and reads answer-link tokens under the server's secret."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="meetbook.answer-link")

    def token(self, grant: AnswerGrant) -> str:
        return str(
            self._serializer.dumps(
                [
                    grant.meeting_id,
                    grant.user_id,
                    grant.sequence,
                    grant.status,
                    grant.proposed_start or 0,
                ]
            )
        )

    def grant(self, token: str) -> AnswerGrant | None:
        """The grant a token carries, or None when it is not one of ours."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            values = self._serializer.loads(token)
        except BadSignature:
            return None
        match values:
            case [int(m), int(u), int(seq), "pending" | "confirmed" as status, int(proposed)]:
                return AnswerGrant(m, u, seq, status, proposed or None)
        return None


def grant_for_event(
    event: str, meeting_id: int, user_id: int, context: dict[str, Any]
) -> AnswerGrant | None:
    """The grant of an email about `event`, from the state its notification recorded."""
    if event not in ANSWERABLE_EVENTS:
        return None
    sequence = int(context.get("sequence", 0))
    if event == "meeting-proposed" and context.get("was_confirmed"):
        return AnswerGrant(meeting_id, user_id, sequence, "confirmed", int(context["start_time"]))
    return AnswerGrant(meeting_id, user_id, sequence, "pending", None)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Why a link stopped working once its meeting moved on, by the meeting's status now.
_STATUS_VOID = {
    "pending": N_("The meeting is pending now, so this link no longer works."),
    "confirmed": N_("The meeting is confirmed now, so this link no longer works."),
    "rejected": N_("The meeting is rejected now, so this link no longer works."),
    "cancelled": N_("The meeting is cancelled now, so this link no longer works."),
    "expired": N_("The meeting is expired now, so this link no longer works."),
    "completed": N_("The meeting is completed now, so this link no longer works."),
}


async def why_void(
    session: AsyncSession, grant: AnswerGrant, token: str, meeting: Meeting | None, now: datetime
) -> str | None:
    """Why the link no longer works (in the reader's language, for the page), or None."""
    if meeting is None:
        return _("This meeting no longer exists, so this link no longer works.")
    used = await session.scalar(
        select(exists().where(AnswerLinkUse.token_hash == token_hash(token)))
    )
    if used:
        return _("This link has already been used, so it no longer works.")
    now_ts = int(now.timestamp())
    if now_ts >= meeting.start_time:
        return _("The meeting has started, so this link no longer works.")
    status = effective_status(meeting, now_ts)
    if status != grant.status:
        if status in _STATUS_VOID:
            return _(_STATUS_VOID[status])
        return f"The meeting is {status} now, so this link no longer works."
    same_state = (
        meeting.sequence == grant.sequence
        and meeting.proposed_start == grant.proposed_start
        and awaited_user_id(meeting, status) == grant.user_id
    )
    if not same_state:
        return _("The meeting has changed since this email was sent, so this link no longer works.")
    return None


async def record_use(session: AsyncSession, grant: AnswerGrant, token: str, now: datetime) -> None:
    """Mark the link used, in the transaction of the change it makes (409 if it was)."""
    try:
        async with session.begin_nested():
            session.add(
                AnswerLinkUse(
                    token_hash=token_hash(token),
                    meeting_id=grant.meeting_id,
                    user_id=grant.user_id,
                    used_at=now,
                )
            )
    except IntegrityError:
        raise Conflict("This link has already been used, so it no longer works.") from None
