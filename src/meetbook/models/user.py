from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from meetbook.models.base import Base, BigId, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # The language of their emails, push and pages (meetbook.i18n.LOCALES).
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Local intervals per weekday ({"mon": [["09:00", "17:00"]], ...}); None = the default.
    working_hours: Mapped[dict[str, list[list[str]]] | None] = mapped_column(JSON)
    # Minutes before a confirmed meeting to remind the user; None = the default ([60]).
    reminder_minutes: Mapped[list[int] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # CONTRACT §1.8: an instance admin may create teams.
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set by `users deactivate`: the account can no longer sign in (its tokens are revoked).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
