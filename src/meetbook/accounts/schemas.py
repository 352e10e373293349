from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meetbook.i18n import LOCALES, Locale
from meetbook.meetings.timeparse import is_valid_zone
from meetbook.text import PersonName, TokenName, hostile_character


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    name: TokenName | None = Field(default=None, description="A label for the token.")
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        strict=True,
        description="Days until the token stops working; absent or null: it never expires.",
    )

    @field_validator("email", "password", "name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        return value

    @field_validator("email")
    @classmethod
    def _printable(cls, value: str) -> str:
        # It reaches the database, and PostgreSQL refuses NUL (that was a 503).
        if hostile_character(value) is not None:
            raise ValueError("must not contain control characters or invisible characters")
        return value


class TokenOut(BaseModel):
    token: str
    id: int
    name: str


DEFAULT_REMINDER_MINUTES = (60,)
MAX_REMINDERS = 3
REMINDER_RANGE = (5, 10080)  # five minutes to a week
REMINDERS_RULE = (
    f"must be a list of up to {MAX_REMINDERS} whole numbers of minutes, each from "
    f"{REMINDER_RANGE[0]} to {REMINDER_RANGE[1]}"
)


def reminder_minutes(value: Any) -> list[int]:
    """A user's reminder lead times: up to 3 distinct minutes, 5-10080, ascending.

    A repeated value is collapsed rather than refused (a form with two equal boxes means
    one reminder), so what is stored and shown is the sorted set.
    """
    if not isinstance(value, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in value
    ):
        raise ValueError(REMINDERS_RULE)
    minutes = sorted(set(value))
    if len(minutes) > MAX_REMINDERS or any(
        not REMINDER_RANGE[0] <= item <= REMINDER_RANGE[1] for item in minutes
    ):
        raise ValueError(REMINDERS_RULE)
    return minutes


class ProfileOut(BaseModel):
    id: int
    name: str
    email: str
    timezone: str | None
    locale: str
    reminder_minutes: list[int] = Field(
        description="Minutes before each confirmed meeting to be reminded (default [60])."
    )


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: PersonName | None = None
    timezone: str | None = Field(
        default=None, max_length=64, description="An IANA zone name; null clears it (UTC)."
    )
    locale: Locale | None = Field(
        default=None, description="The language of your emails, push and pages."
    )
    reminder_minutes: list[int] | None = Field(
        default=None,
        description="Up to 3 whole numbers of minutes (5-10080) before each confirmed "
        "meeting to be reminded; [] for no reminders. Repeats are collapsed; stored sorted.",
        examples=[[1440, 15]],
    )

    @field_validator("reminder_minutes", mode="before")
    @classmethod
    def _reminders(cls, value: Any) -> Any:
        # Only called for a value that was sent, so null is refused rather than ignored.
        return reminder_minutes(value)

    @field_validator("name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _iana(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not is_valid_zone(value):
            raise ValueError("must be a valid IANA timezone name such as Europe/Paris")
        return value

    @field_validator("locale", mode="before")
    @classmethod
    def _locale(cls, value: Any) -> Any:
        # Sent as null too: a user always has a language (the default is en).
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value


class TeamOut(BaseModel):
    id: int
    name: str
    role: str


class MemberOut(BaseModel):
    id: int
    name: str
    timezone: str | None
    role: str


class TeamList(BaseModel):
    data: list[TeamOut]


class MemberList(BaseModel):
    data: list[MemberOut]
