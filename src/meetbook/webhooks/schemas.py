"""Request and response shapes of the webhook routes (CONTRACT §1.9)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meetbook.text import hostile_character

# Every event of CONTRACT §2, by the name push and the notifications list use.
EVENTS: tuple[str, ...] = (
    "meeting-created",
    "meeting-confirmed",
    "meeting-rejected",
    "meeting-cancelled",
    "meeting-proposed",
    "meeting-proposal-declined",
    "meeting-rescheduled",
    "meeting-expiring",
    "meeting-expired",
    "meeting-reminder",
)
# What `POST .../test` sends; not subscribable, every endpoint receives it when asked.
PING = "ping"
MAX_URL_LENGTH = 2048


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="An https URL on a public address that receives the events.",
        examples=["https://hooks.example.com/meetbook"],
    )
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENTS),
        description="The events to receive: any of " + ", ".join(EVENTS) + ".",
        examples=[["meeting-created", "meeting-confirmed"]],
    )

    @field_validator("url", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a URL string")
        value = value.strip()
        # Shown on the team page and stored as text: no spaces, no control or bidi characters.
        if any(c.isspace() for c in value) or hostile_character(value) is not None:
            raise ValueError("must be a URL without spaces or control characters")
        return value

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in EVENTS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an event; the events are {', '.join(EVENTS)}")
        return list(dict.fromkeys(value))


class WebhookOut(BaseModel):
    id: int
    team_id: int
    url: str
    events: list[str]
    enabled: bool = Field(description="False once the endpoint answered 410 or failed for days.")
    disabled_reason: str | None
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_...): shown only in this answer.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookList(BaseModel):
    data: list[WebhookOut]


class AttemptOut(BaseModel):
    id: int
    message_id: str = Field(description="The webhook-id header: the same on every retry.")
    event: str
    attempt: int
    status_code: int | None = Field(description="The answer's HTTP status; null if none came.")
    at: str
    response_excerpt: str | None = Field(description="At most 256 characters of the answer.")
    error: str | None


class AttemptList(BaseModel):
    data: list[AttemptOut]


class Queued(BaseModel):
    message_id: str = Field(description="The webhook-id of the message queued for delivery.")
