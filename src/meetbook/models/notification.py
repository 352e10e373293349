from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime, utcnow


class Device(Base):
    """A push destination: an FCM registration token or a Web Push subscription."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(16))  # fcm | webpush
    # FCM token, or the Web Push endpoint URL: what identifies the device at the provider.
    token: Mapped[str] = mapped_column(String(2048))
    subscription: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("uq_devices_platform_token", "platform", "token", unique=True),)


class Notification(Base):
    """The outbox: one row per (event, recipient, channel), written with the change.

    The worker leases due rows (`lease_expires_at`), delivers them and records the
    outcome; a lease that runs out (worker killed) makes the row due again. A row may be
    due in the future (`next_attempt_at`) under a `schedule_key`, by which it can later be
    moved or cancelled (`notifications/scheduled.py`).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    # Null for a webhook message (a row with `webhook_id`, `webhooks/delivery.py`) that is
    # about no meeting (a ping, a note to a team's admins), and for an account email (an
    # invite or a password reset, `notifications/account_email.py`): no meeting, and an
    # invite may go to an address that has no account yet.
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # email | fcm | webpush | webhook
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    # What the event knew that the meeting row may no longer say (reason, actor, ...).
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | sent | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Names a scheduled row ("reminder:<meeting>:<user>") so it can be moved or cancelled.
    schedule_key: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_notifications_meeting", "meeting_id", "id"),
        Index("ix_notifications_schedule_key", "schedule_key"),
        # Retention deletes finished rows by the time they were last due.
        Index(
            "ix_notifications_finished",
            "next_attempt_at",
            postgresql_where=text("status <> 'pending'"),
            sqlite_where=text("status <> 'pending'"),
        ),
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )


class DevEmail(Base):
    """An email kept for `/dev/mailbox` when no SMTP host is configured."""

    __tablename__ = "dev_emails"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # An account email (invite, password reset) holds a link that acts for its reader:
    # only that address (and instance admins) may see it in the mailbox. Null: anyone.
    restricted_to: Mapped[str | None] = mapped_column(String(254))
