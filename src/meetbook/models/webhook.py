from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime, utcnow


class Webhook(Base):
    """A team's webhook endpoint (CONTRACT §1.9): where, which events, and its signing secret.

    The secret is stored encrypted (`webhooks/secrets.py`): the worker can sign with it,
    the API never shows it again after creation.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(JSON)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was disabled (the receiver answered 410, or it failed for days).
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failed attempt since the last success: how long the endpoint has been failing.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(Base):
    """One delivery attempt to a webhook: the delivery log (`GET .../deliveries`).

    Keeps at most a short excerpt of the response body, never the body itself.
    """

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    # The outbox row that made the attempt (not a foreign key: retention deletes those).
    notification_id: Mapped[int | None] = mapped_column(BigId)
    # The `webhook-id` header: the same for every attempt and redelivery of one message.
    message_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # The message as sent, so a redelivery sends the same body under the same id.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_webhook_attempts_webhook", "webhook_id", "id"),
        Index("ix_webhook_attempts_at", "at"),
    )
