"""Account routes of /api/v3 (CONTRACT §1.4): tokens, me, teams, members."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request, Response

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
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import Unauthorized
from meetbook.jsonbody import json_body_schema, read_json_object, validate_body
from meetbook.meetings.endpoints import ERRORS
from meetbook.params import IdPath

router = APIRouter(prefix="/api/v3", tags=["accounts"])


@router.post(
    "/auth/token",
    status_code=201,
    response_model=TokenOut,
    responses=ERRORS,
    openapi_extra=json_body_schema(TokenRequest),
)
async def create_token(request: Request, session: SessionDep) -> dict[str, Any]:
    """Exchange an email and password for a bearer token (shown only once)."""
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    # Per address: one client trying many accounts; per account and address: guessing
    # one password. Both are counted before the (deliberately slow) password check.
    await throttle(request, settings.rate_limit_token_address, "api-token-address", address)
    body = validate_body(TokenRequest, await read_json_object(request))
    # The limiter's storage may be a shared Redis: keep a digest there, not the address.
    account = hashlib.sha256(service.normalize_email(body.email).encode()).hexdigest()[:32]
    await throttle(
        request, settings.rate_limit_token_account, "api-token-account", account, address
    )
    user = await service.authenticate(session, body.email, body.password)
    if user is None:
        raise Unauthorized("The email or password is wrong.")
    name = body.name or "API token"
    await check_new_token(request, session, user.id, name)
    token, row = await issue_token(session, user.id, name)
    return {"token": token, "id": row.id, "name": row.name}


@router.delete("/auth/token", status_code=204, responses=ERRORS)
async def delete_token(session: SessionDep, found: CurrentToken) -> Response:
    """Revoke the token used for this call."""
    user, token = found
    await revoke_token(session, token.id, user.id)
    return Response(status_code=204)


def _profile(user: Any) -> dict[str, Any]:
    return {"id": user.id, "name": user.name, "email": user.email, "timezone": user.timezone}


@router.get("/me", response_model=ProfileOut, responses=ERRORS)
async def get_me(user: CurrentUser) -> dict[str, Any]:
    """Your profile."""
    return _profile(user)


@router.patch(
    "/me", response_model=ProfileOut, responses=ERRORS, openapi_extra=json_body_schema(ProfilePatch)
)
async def patch_me(request: Request, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Change your name or timezone."""
    patch = validate_body(ProfilePatch, await read_json_object(request))
    if patch.name is not None:
        user.name = patch.name
    if "timezone" in patch.model_fields_set:
        # null clears the zone (CONTRACT §1.4): times are then read and shown in UTC.
        user.timezone = patch.timezone
    await session.flush()
    return _profile(user)


@router.get("/teams", response_model=TeamList, responses=ERRORS)
async def list_teams(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The teams you belong to."""
    teams = await service.teams_of(session, user.id)
    return {"data": [{"id": t.id, "name": t.name, "role": role} for t, role in teams]}


@router.get("/teams/{team_id}/members", response_model=MemberList, responses=ERRORS)
async def list_members(team_id: IdPath, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Members of one of your teams."""
    members = await service.members_of(session, team_id, user.id)
    return {
        "data": [
            {"id": m.id, "name": m.name, "timezone": m.timezone, "role": role}
            for m, role in members
        ]
    }
