from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime, utcnow

MEETING_SECONDS = 3600


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    booking_number: Mapped[str] = mapped_column(String(20), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    timezone: Mapped[str] = mapped_column(String(64))
    # Unix seconds: what the API speaks, and what the overlap checks compare.
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)
    link: Mapped[str | None] = mapped_column(Text)
    # Optional subject (one line) and agenda (several lines), as given at create.
    title: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    # Stored status; `expired` and `completed` are also derived from the clock on read.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    # The calendar invite's SEQUENCE (RFC 5545): +1 whenever a change alters the invite.
    sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    # Whether the start was outside the recipient's working hours when it was booked.
    outside_working_hours: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The participant whose answer is awaited: the recipient of a new request, the other
    # participant after a proposal (CONTRACT §1.6); null when nobody's answer is awaited.
    # Always one of the two participants, whose foreign keys already cascade: no foreign
    # key of its own (SQLite could add one only by copying the whole table).
    awaiting_user_id: Mapped[int | None] = mapped_column(BigInteger)
    # A confirmed meeting's proposed new time (unix seconds), until accepted or declined.
    proposed_start: Mapped[int | None] = mapped_column(BigInteger)
    proposed_by: Mapped[int | None] = mapped_column(BigInteger)
    proposal_reason: Mapped[str | None] = mapped_column(Text)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_meetings_recipient_start", "recipient_id", "start_time", "id"),
        Index("ix_meetings_requester_start", "requester_id", "start_time", "id"),
        Index("ix_meetings_recipient_status_start", "recipient_id", "status", "start_time", "id"),
        # Finds the meetings whose stored status the clock has overtaken (pending past its
        # start, confirmed past its end) without scanning every meeting.
        Index("ix_meetings_status_start", "status", "start_time"),
        # GET /meeting/pending: what awaits one user's answer, soonest first.
        Index("ix_meetings_awaiting_start", "awaiting_user_id", "start_time", "id"),
    )


class BusySlot(Base):
    """One row per participant of a confirmed meeting.

    On PostgreSQL an exclusion constraint (added in the migration) forbids two rows of one
    user with overlapping [start_time, end_time): the database itself refuses double
    booking. On SQLite the same check runs inside a serialized (BEGIN IMMEDIATE) write.
    """

    __tablename__ = "busy_slots"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_busy_slots_user_start", "user_id", "start_time"),)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class AnswerLinkUse(Base):
    """An email answer link that has been used (CONTRACT §2): each works once."""

    __tablename__ = "answer_link_uses"

    # SHA-256 of the link's token: the table never holds a usable link.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
