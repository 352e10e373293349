"""Bodies and answers of the people-and-teams routes (CONTRACT §1.8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from meetbook.text import PersonName, hostile_character

Role = Literal["member", "admin"]


def _string(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string")
    return value


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: PersonName = Field(description="The team's name.")

    _text = field_validator("name", mode="before")(classmethod(lambda cls, v: _string(v)))


class TeamCreated(BaseModel):
    id: int
    name: str
    role: str


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Role


class MemberOut(BaseModel):
    id: int
    name: str
    timezone: str | None
    role: str


class InviteCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=1, max_length=254)
    role: Role = "member"

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        value = _string(value)
        if isinstance(value, str) and hostile_character(value) is not None:
            raise ValueError("must not contain control characters or invisible characters")
        return value


class InviteOut(BaseModel):
    id: int
    email: str
    role: str
    created_at: datetime
    expires_at: datetime


class InviteList(BaseModel):
    data: list[InviteOut]


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str = Field(min_length=1, max_length=254)

    _text = field_validator("email", mode="before")(classmethod(lambda cls, v: _string(v)))


class PasswordResetComplete(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)

    _text = field_validator("token", "password", mode="before")(
        classmethod(lambda cls, v: _string(v))
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)

    _text = field_validator("current_password", "new_password", mode="before")(
        classmethod(lambda cls, v: _string(v))
    )


class CredentialOut(BaseModel):
    id: int
    name: str
    kind: Literal["api", "session"]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    user_agent: str | None


class CredentialList(BaseModel):
    data: list[CredentialOut]
