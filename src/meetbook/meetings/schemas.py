"""Request and response shapes of the meeting routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from meetbook.errors import SENTENCE_ERROR
from meetbook.text import MAX_REASON_LENGTH as MAX_REASON_LENGTH  # the web form's limit
from meetbook.text import MeetingNotes, MeetingTitle, Reason, hostile_character

MAX_LINK_LENGTH = 2048
MAX_DATE_LENGTH = 100
REQUIRED_FIELDS = ("user_id", "team_id", "date")
REQUIRED_MESSAGE = "user_id, team_id, and date are required"


def _strict_id(value: Any) -> Any:
    # JSON integers, or strings of digits for clients that send form-style values;
    # never booleans or fractions.
    if isinstance(value, bool | float):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        if not value.strip().isdigit() or len(value) > 18:
            raise ValueError("must be a whole number")
        return int(value)
    if isinstance(value, int) and not 0 < value < 2**63:
        raise ValueError("must be a positive whole number")
    return value


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: int = Field(description="The recipient (client) of the meeting request.", examples=[5])
    team_id: int = Field(description="The team the meeting belongs to.", examples=[1])
    date: str = Field(
        description=(
            "Start of the meeting. Without an offset it is wall-clock time in the "
            "recipient's timezone; with an offset or Z it is that instant."
        ),
        max_length=MAX_DATE_LENGTH,
        examples=["2025-12-15 14:00:00"],
    )
    link: str | None = Field(
        default=None,
        description="Optional meeting link (absolute http/https URL).",
        max_length=MAX_LINK_LENGTH,
        examples=["https://zoom.us/j/1234567890"],
    )

    title: MeetingTitle | None = Field(
        default=None,
        description="Optional subject: one line, at most 200 characters.",
        examples=["Quarterly review"],
    )
    notes: MeetingNotes | None = Field(
        default=None,
        description="Optional agenda or notes: at most 2000 characters; line breaks and "
        "tabs allowed.",
        examples=["1. Numbers\n2. Next steps"],
    )

    _ids = field_validator("user_id", "team_id", mode="before")(_strict_id)

    @model_validator(mode="before")
    @classmethod
    def _required(cls, data: Any) -> Any:
        # The seed's one sentence for absent, null and "" alike, before any field's own
        # reason (a body that is not an object is left to Pydantic's type check).
        if isinstance(data, dict) and any(data.get(name) in (None, "") for name in REQUIRED_FIELDS):
            raise PydanticCustomError(SENTENCE_ERROR, REQUIRED_MESSAGE)
        return data

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a date-time string such as 2025-12-15 14:00:00")
        return value

    @field_validator("title", "notes", mode="before")
    @classmethod
    def _text_or_null(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        return value

    @field_validator("title", "notes")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("link", mode="before")
    @classmethod
    def _absolute_http_url(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be an absolute http or https URL")
        if len(value) > MAX_LINK_LENGTH:
            raise ValueError(f"must be at most {MAX_LINK_LENGTH} characters")
        parts = urlsplit(value)
        # A link is shown in pages, emails and invites: no spaces, and none of the
        # characters that human text may not hold either (bidi overrides, C1 controls).
        has_space = any(c.isspace() for c in value) or hostile_character(value) is not None
        if parts.scheme not in ("http", "https") or not parts.hostname or has_space:
            raise ValueError("must be an absolute http or https URL")
        return value


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ignore_calendar_conflicts: bool = Field(
        default=False, strict=True, description="Confirm even over a linked-calendar busy time."
    )


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: Reason | None = Field(default=None, description="At most 500 characters.")

    @field_validator("reason", mode="before")
    @classmethod
    def _text_or_null(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("must be a string")
        return value

    @field_validator("reason")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class ProposeBody(ReasonBody):
    date: str = Field(
        description=(
            "The new start. Without an offset it is wall-clock time in the meeting's "
            "timezone (the recipient's); with an offset or Z it is that instant."
        ),
        max_length=MAX_DATE_LENGTH,
        examples=["2025-12-16 10:00:00"],
    )

    @model_validator(mode="before")
    @classmethod
    def _date_required(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("date") in (None, ""):
            raise PydanticCustomError(SENTENCE_ERROR, "date is required")
        return data

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a date-time string such as 2025-12-15 14:00:00")
        return value


class AcceptBody(ConfirmBody):
    """Accepting a proposal; a body is optional."""


class ProposalOut(BaseModel):
    start_time: int
    end_time: int
    booking_date: str = Field(description="Proposed start, UTC, YYYY-MM-DD HH:MM:SS.")
    proposed_by: int
    reason: str | None
    created_at: str


class MeetingOut(BaseModel):
    id: int
    booking_number: str = Field(examples=["MB-7Q4K-9X2P-M3KC"])
    client_id: int = Field(description="The recipient.")
    user_id: int = Field(description="The requester.")
    team_id: int
    timezone: str = Field(description="The recipient's effective IANA zone.")
    booking_date: str = Field(description="Start, UTC, YYYY-MM-DD HH:MM:SS.")
    start_time: int
    end_time: int
    link: str | None
    title: str | None = Field(default=None, description="The subject given at create, or null.")
    notes: str | None = Field(
        default=None, description="The agenda or notes given at create, or null."
    )
    status: str
    created_at: str
    updated_at: str
    reason: str | None = None
    requester_name: str | None = None
    client_name: str | None = None
    local_time: str | None = Field(
        default=None, description="Start in the recipient's zone, ISO 8601 with offset."
    )
    awaiting_user_id: int | None = Field(
        default=None,
        description="The participant whose answer is awaited (a pending request, or a "
        "confirmed meeting with a proposal); null otherwise.",
    )
    proposal: ProposalOut | None = Field(
        default=None, description="A confirmed meeting's proposed new time, until answered."
    )
    sequence: int = Field(
        default=0,
        description="The calendar invite's SEQUENCE: starts at 0, +1 on every change that "
        "alters the invite (a new time, also of a pending request; a cancellation).",
    )

    outside_working_hours: bool = Field(
        default=False, description="The start was outside the recipient's working hours."
    )


class HistoryEntry(BaseModel):
    at: str = Field(description="When, ISO 8601 UTC.", examples=["2025-12-10T10:30:00Z"])
    action: str = Field(
        description="created, proposed, confirmed, rejected, cancelled, rescheduled, "
        "proposal-declined, expired or completed."
    )
    actor_id: int | None = Field(description="Who made the change; null for the clock.")
    from_status: str | None
    to_status: str
    start_time: int = Field(description="The meeting's start after the change, unix seconds.")
    reason: str | None


class MeetingHistoryPage(BaseModel):
    data: list[HistoryEntry]


class MeetingPage(BaseModel):
    data: list[MeetingOut]
    next_cursor: str | None
