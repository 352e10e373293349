"""Settings: one class, read from MEETBOOK_* environment variables and a `.env` file."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./meetbook.db"
SECRET_FILE_NAME = ".meetbook-secret"
RATE_LIMIT_OFF = "off"
MIN_SECRET_KEY_LENGTH = 32
# TEST-ONLY: MEETBOOK_PASSWORD_HASH_PROFILE=fast makes Argon2 use the cheapest parameters,
# so a test suite that creates hundreds of accounts does not spend minutes hashing. Never
# set it in production: such hashes are far cheaper to crack. Unset (or "standard") is
# pwdlib's recommended Argon2. Hashes of either profile verify under both.
PASSWORD_HASH_PROFILE_ENV = "MEETBOOK_PASSWORD_HASH_PROFILE"
PASSWORD_HASH_PROFILES = ("standard", "fast")


class SettingsError(Exception):
    """A setting is malformed; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MEETBOOK_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None

    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout: float = Field(default=15.0, gt=0, le=300)
    mail_from: str = "meetbook <no-reply@localhost>"

    fcm_credentials: Path | None = None
    fcm_endpoint: str = "https://fcm.googleapis.com"
    vapid_private_key: Path | None = None
    vapid_subject: str | None = None
    # URLs that users supply (Web Push endpoints) may target loopback/private addresses
    # and plain http only when this is set: tests, closed networks (CONTRACT §5).
    allow_private_targets: bool = False

    # Days sent/failed notifications and dev-mailbox emails are kept (CONTRACT §5).
    retention_days: int = Field(default=90, gt=0, le=36500)

    rate_limit_storage: str = "memory://"
    # Rules are `limits` strings ("6000/minute", "50 per hour", several joined by ";")
    # or "off".
    # Per API token, on every authenticated /api/v3 route: high enough for any client
    # that is not running away (and for the benchmarks, which hammer one token each).
    rate_limit_api: str = "6000/minute"
    # POST /api/v3/auth/token: per account and client address, and per client address.
    rate_limit_token_account: str = "10/minute"
    rate_limit_token_address: str = "60/minute"
    # GET /calendar/<secret>.ics (no sign-in): per client address.
    rate_limit_calendar_feed: str = "60/minute"
    # New API tokens per user (POST /api/v3/auth/token and the settings page).
    rate_limit_token_create: str = "20/hour"
    # Meeting requests per requester: far above what a person sends by hand, far below
    # the API rate (a teammate could otherwise send thousands to one person).
    rate_limit_create: str = "30/hour;200/day"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Seconds a request may wait for a database connection before answering 503.
    db_timeout: float = Field(default=10.0, gt=0, le=300)
    # PostgreSQL: SQLAlchemy's pre-ping on every checkout (3 round trips on asyncpg)
    # instead of meetbook's cheaper check (meetbook/db.py, "Checking PostgreSQL
    # connections"). Off unless the cheaper check proves not enough on your network.
    db_pre_ping: bool = False
    # Seconds a bearer-token lookup is reused within one API process (0: off). A token
    # revoked through another process keeps working there for up to this long
    # (meetbook/auth/tokencache.py).
    token_cache_seconds: float = Field(default=5.0, ge=0, le=60)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL") from None
        if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("base_url", "fcm_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator(
        "rate_limit_api",
        "rate_limit_token_account",
        "rate_limit_token_address",
        "rate_limit_calendar_feed",
        "rate_limit_token_create",
        "rate_limit_create",
    )
    @classmethod
    def _rate_rule(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == RATE_LIMIT_OFF:
            return RATE_LIMIT_OFF
        try:
            rules = parse_many(value)
        except ValueError:
            rules = []
        # Several rules (`30/hour;200/day`) must all hold.
        if not rules or any(rule.amount < 1 for rule in rules):
            raise ValueError('must be a rate such as "600/minute" or "30/hour;200/day", or "off"')
        return value

    @field_validator("fcm_credentials", "vapid_private_key")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("smtp_host", "smtp_username", "smtp_password", "secret_key", "vapid_subject")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("vapid_subject")
    @classmethod
    def _vapid_contact(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("must be a mailto: or https:// URL")
        host = value.removeprefix("mailto:").partition("?")[0].rpartition("@")[2]
        if value.startswith("https://"):
            host = urlsplit(value).hostname or ""
        # Apple's push service rejects a VAPID subject at localhost (BadJwtToken).
        if host.lower().rstrip(".").split(".")[-1] == "localhost":
            raise ValueError("must be a contact push services accept, not one at localhost")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        # It signs cookies and keys every CSRF token: short enough to guess is no secret.
        if value is not None and len(value) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters long")
        return value

    @model_validator(mode="after")
    def _vapid_needs_subject(self) -> Settings:
        if self.vapid_private_key is not None and not self.vapid_subject:
            raise ValueError(
                "MEETBOOK_VAPID_SUBJECT is required when MEETBOOK_VAPID_PRIVATE_KEY is set"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def mail_domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"

    def resolved_secret_key(self) -> str:
        """The signing secret: set explicitly, or generated once beside the SQLite file."""
        if self.secret_key:
            return self.secret_key
        if not self.is_sqlite:
            raise SettingsError("MEETBOOK_SECRET_KEY: required when the database is PostgreSQL")
        database = make_url(self.database_url).database
        folder = Path(database).parent if database and database != ":memory:" else Path(".")
        path = folder / SECRET_FILE_NAME
        if not path.exists():
            path.write_text(new_secret_key())
            path.chmod(0o600)
        return path.read_text().strip()


def new_secret_key() -> str:
    """A fresh MEETBOOK_SECRET_KEY: 48 random bytes (384 bits), URL-safe base64, 64 characters."""
    return secrets.token_urlsafe(48)


def password_hash_profile() -> str:
    """The Argon2 profile from the environment: "standard", or "fast" in tests only."""
    profile = os.environ.get(PASSWORD_HASH_PROFILE_ENV, "").strip().lower() or "standard"
    if profile not in PASSWORD_HASH_PROFILES:
        raise SettingsError(f"{PASSWORD_HASH_PROFILE_ENV}: must be standard or fast")
    return profile


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one line naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        variable = f"MEETBOOK_{field.upper()}" if field else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{variable}: {message}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()
