"""A meeting's append-only history: written with each change, read oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.models import Meeting, MeetingHistory


def record(
    session: AsyncSession,
    meeting: Meeting,
    *,
    action: str,
    actor_id: int | None,
    from_status: str | None,
    at: datetime,
    reason: str | None = None,
) -> MeetingHistory:
    """Add the history row of a change `meeting` has just gone through (it is flushed later)."""
    row = MeetingHistory(
        meeting_id=meeting.id,
        at=at,
        action=action,
        actor_id=actor_id,
        from_status=from_status,
        to_status=meeting.status,
        start_time=meeting.start_time,
        reason=reason,
    )
    session.add(row)
    return row


async def entries(session: AsyncSession, meeting_id: int) -> Sequence[MeetingHistory]:
    """The meeting's history, oldest first."""
    # In the order written, not by `at`: two changes within one second tie on `at`. The
    # clock's rows, dated back to the meeting's start or end, are last either way: no
    # change can follow an expiry or a completion.
    query = (
        select(MeetingHistory)
        .where(MeetingHistory.meeting_id == meeting_id)
        .order_by(MeetingHistory.id)
    )
    return (await session.scalars(query)).all()


def entry_json(row: MeetingHistory) -> dict[str, object]:
    return {
        "at": row.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": row.action,
        "actor_id": row.actor_id,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "start_time": row.start_time,
        "reason": row.reason,
    }
