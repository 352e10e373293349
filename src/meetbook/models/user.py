from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Local intervals per weekday ({"mon": [["09:00", "17:00"]], ...}); None = the default.
    working_hours: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSON)
    # Minutes before a confirmed meeting to remind the user; None = the default ([60]).
    reminder_minutes: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A credential: an API bearer token (`kind` "api") or a web session ("session").

    Only the SHA-256 of the secret is stored. Each kind is accepted only where it
    belongs: the API refuses sessions, the web page refuses API tokens.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("kind IN ('api', 'session')", name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="api", server_default="api")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Null: never expires (API tokens by default); sessions also expire when idle.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # For the sessions list: the browser and address that signed in.
    user_agent: Mapped[str | None] = mapped_column(String(200))
    ip_address: Mapped[str | None] = mapped_column(String(45))
