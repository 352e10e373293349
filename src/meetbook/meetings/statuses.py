"""The meeting state machine: statuses, allowed transitions, and clock-derived statuses."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, and_, or_

from meetbook.models import Meeting

Status = Literal["pending", "confirmed", "rejected", "cancelled", "expired", "completed"]
STATUSES: tuple[Status, ...] = (
    "pending",
    "confirmed",
    "rejected",
    "cancelled",
    "expired",
    "completed",
)

# Action → (statuses it may start from, status it leaves).
TRANSITIONS: dict[str, tuple[frozenset[str], Status]] = {
    "confirm": (frozenset({"pending"}), "confirmed"),
    "reject": (frozenset({"pending"}), "rejected"),
    "cancel": (frozenset({"pending", "confirmed"}), "cancelled"),
}


def effective_status(meeting: Meeting, now_ts: int) -> Status:
    """The status a reader sees: `pending` past its start is `expired`, `confirmed` past
    its end is `completed`, whatever the stored value still says."""
    status: Status = meeting.status  # type: ignore[assignment]
    if status == "pending" and meeting.start_time <= now_ts:
        return "expired"
    if status == "confirmed" and meeting.end_time <= now_ts:
        return "completed"
    return status


def status_filter(status: Status, now_ts: int) -> ColumnElement[bool]:
    """SQL condition for "the effective status is `status`"."""
    column = Meeting.status
    if status == "pending":
        return and_(column == "pending", Meeting.start_time > now_ts)
    if status == "expired":
        return or_(column == "expired", and_(column == "pending", Meeting.start_time <= now_ts))
    if status == "confirmed":
        return and_(column == "confirmed", Meeting.end_time > now_ts)
    if status == "completed":
        return or_(column == "completed", and_(column == "confirmed", Meeting.end_time <= now_ts))
    return column == status
