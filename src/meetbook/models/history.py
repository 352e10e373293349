from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime


class MeetingHistory(Base):
    """One change of a meeting: append-only, written in the transaction of the change."""

    __tablename__ = "meeting_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    # Null for the clock (expired, completed); kept when the user is deleted, as history.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    # The meeting's start after the change.
    start_time: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_meeting_history_meeting", "meeting_id", "id"),)
