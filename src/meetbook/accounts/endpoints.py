"""Account routes of /api/v3 (CONTRACT §1.4): tokens, me, teams, members."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from meetbook.accounts import service
from meetbook.accounts.schemas import (
    MemberList,
    ProfileOut,
    ProfilePatch,
    TeamList,
    TokenOut,
    TokenRequest,
)
from meetbook.accounts.tokenlimits import check_new_token
from meetbook.auth.deps import CurrentToken, CurrentUser, throttle
from meetbook.auth.tokens import issue_token, revoke_token
from meetbook.clock import Now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import Unauthorized
from meetbook.meetings.endpoints import ERRORS
from meetbook.meetings.timed_notices import reminder_minutes_of
from meetbook.models import utcnow
from meetbook.params import IdPath

router = APIRouter(prefix="/api/v3", tags=["accounts"])


async def _throttled_address(request: Request) -> str:
    """The caller's address, once its sign-in attempts are counted (429 past the limit).

    A dependency, so FastAPI counts the attempt before it validates the body: malformed
    attempts count too.
    """
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    await throttle(request, settings.rate_limit_token_address, "api-token-address", address)
    return address


@router.post("/auth/token", status_code=201, response_model=TokenOut, responses=ERRORS)
async def create_token(
    body: TokenRequest,
    request: Request,
    session: SessionDep,
    address: Annotated[str, Depends(_throttled_address)],
) -> dict[str, Any]:
    """Exchange an email and password for a bearer token (shown only once)."""
    settings: Settings = request.app.state.settings
    # Per address (the dependency): one client trying many accounts; per account and
    # address: guessing one password. Both are counted before the (deliberately slow)
    # password check.
    # The limiter's storage may be a shared Redis: keep a digest there, not the address.
    account = hashlib.sha256(service.normalize_email(body.email).encode()).hexdigest()[:32]
    await throttle(
        request, settings.rate_limit_token_account, "api-token-account", account, address
    )
    user = await service.authenticate(request.app.state.sessionmaker, body.email, body.password)
    if user is None:
        raise Unauthorized("The email or password is wrong.")
    name = body.name or "API token"
    await check_new_token(request, session, user.id)
    expires_at = utcnow() + timedelta(days=body.expires_in_days) if body.expires_in_days else None
    token, row = await issue_token(
        session,
        user.id,
        name,
        expires_at=expires_at,
        user_agent=request.headers.get("user-agent"),
    )
    return {"token": token, "id": row.id, "name": row.name}


@router.delete("/auth/token", status_code=204, responses=ERRORS)
async def delete_token(session: SessionDep, found: CurrentToken) -> Response:
    """Revoke the token used for this call."""
    user, token = found
    await revoke_token(session, token.id, user.id)
    return Response(status_code=204)


def _profile(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "timezone": user.timezone,
        "locale": user.locale,
        "reminder_minutes": list(reminder_minutes_of(user)),
    }


@router.get("/me", response_model=ProfileOut, responses=ERRORS)
async def get_me(user: CurrentUser) -> dict[str, Any]:
    """Your profile."""
    return _profile(user)


@router.patch("/me", response_model=ProfileOut, responses=ERRORS)
async def patch_me(
    patch: ProfilePatch, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """Change your name, timezone, language (`locale`: en, de, es or fr) or reminders."""
    await service.update_profile(session, user, patch, now)
    return _profile(user)


@router.get("/teams", response_model=TeamList, responses=ERRORS)
async def list_teams(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The teams you belong to."""
    teams = await service.teams_of(session, user.id)
    return {"data": [{"id": t.id, "name": t.name, "role": role} for t, role in teams]}


@router.get("/teams/{team_id}/members", response_model=MemberList, responses=ERRORS)
async def list_members(team_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Members of one of your teams."""
    members = await service.members_of(session, team_id, user)
    return {
        "data": [
            {"id": m.id, "name": m.name, "timezone": m.timezone, "role": role}
            for m, role in members
        ]
    }
