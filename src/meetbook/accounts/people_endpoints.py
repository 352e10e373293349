"""People-and-teams routes of /api/v3 (CONTRACT §1.8): teams, roles, removal, invites,
passwords, and your tokens and sessions. Authorization: `auth/permissions.py`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request, Response

from meetbook.accounts import links, people
from meetbook.accounts.people_schemas import (
    CredentialList,
    InviteCreate,
    InviteList,
    InviteOut,
    MemberOut,
    PasswordChange,
    PasswordResetComplete,
    PasswordResetRequest,
    RoleChange,
    TeamCreate,
    TeamCreated,
)
from meetbook.accounts.service import normalize_email
from meetbook.auth.deps import CurrentToken, CurrentUser, throttle
from meetbook.auth.permissions import authorize
from meetbook.auth.tokens import revoke_token
from meetbook.clock import Now
from meetbook.config import RATE_LIMIT_OFF, Settings
from meetbook.db import SessionDep
from meetbook.errors import NotFound
from meetbook.meetings.endpoints import ERRORS
from meetbook.models import User
from meetbook.params import IdPath

router = APIRouter(prefix="/api/v3", tags=["people"])

# Per address; per account the service sends at most links.RESETS_PER_HOUR emails.
RESET_RULE = "10/minute"
# Every answer to a reset request takes at least this long, whether or not an email is
# queued, so the time does not tell whether the address has an account.
RESET_FLOOR_SECONDS = 0.25


def secret_key(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.resolved_secret_key()


@router.post("/teams", status_code=201, response_model=TeamCreated, responses=ERRORS)
async def create_team(body: TeamCreate, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Create a team (instance admins); you become its admin."""
    await authorize(session, user, "team.create")
    team = await people.create_team_for(session, user, body.name)
    return {"id": team.id, "name": team.name, "role": "admin"}


@router.patch("/teams/{team_id}/members/{user_id}", response_model=MemberOut, responses=ERRORS)
async def change_role(
    team_id: IdPath, user_id: IdPath, body: RoleChange, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Make a member an admin or a member (team admins); a team keeps one admin (409)."""
    await authorize(session, user, "team.manage", team_id=team_id, subject_id=user_id)
    membership = await people.set_role(session, team_id, user_id, body.role)
    member = await session.get(User, user_id)
    assert member is not None  # a membership's user exists (foreign key)
    return {
        "id": member.id,
        "name": member.name,
        "timezone": member.timezone,
        "role": membership.role,
    }


@router.delete("/teams/{team_id}/members/{user_id}", status_code=204, responses=ERRORS)
async def remove_member(
    team_id: IdPath, user_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> Response:
    """Remove a member (team admins, or the member themself); their pending and future
    confirmed meetings in the team are cancelled, with notifications."""
    await authorize(session, user, "member.remove", team_id=team_id, subject_id=user_id)
    await people.remove_member(session, team_id, user_id, now, by=user.id)
    return Response(status_code=204)


def _invite(invite: Any) -> dict[str, Any]:
    return {
        "id": invite.id,
        "email": invite.email,
        "role": invite.role,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
    }


@router.post(
    "/teams/{team_id}/invites", status_code=201, response_model=InviteOut, responses=ERRORS
)
async def create_invite(
    team_id: IdPath, body: InviteCreate, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """Invite someone by email (team admins): a sign-up link valid 7 days, single use."""
    await authorize(session, user, "team.manage", team_id=team_id)
    invite = await links.create_invite(session, team_id, body.email, body.role, by=user.id, now=now)
    return _invite(invite)


@router.get("/teams/{team_id}/invites", response_model=InviteList, responses=ERRORS)
async def list_invites(
    team_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """The team's pending invites (team admins)."""
    await authorize(session, user, "team.manage", team_id=team_id)
    return {"data": [_invite(i) for i in await links.pending_invites(session, team_id, now)]}


@router.delete("/teams/{team_id}/invites/{invite_id}", status_code=204, responses=ERRORS)
async def revoke_invite(
    team_id: IdPath, invite_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> Response:
    """Withdraw a pending invite (team admins): its link stops working."""
    await authorize(session, user, "team.manage", team_id=team_id)
    await links.revoke_invite(session, team_id, invite_id, now)
    return Response(status_code=204)


@router.post("/auth/password-reset", status_code=202, responses=ERRORS)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, session: SessionDep, now: Now
) -> dict[str, str]:
    """Email a single-use link valid 1 hour, if the address has an account (always 202)."""
    started = time.monotonic()
    settings: Settings = request.app.state.settings
    if settings.rate_limit_token_address != RATE_LIMIT_OFF:
        address = request.client.host if request.client else "unknown"
        await throttle(request, RESET_RULE, "password-reset-address", address)
    await links.request_reset(session, normalize_email(body.email), now)
    await asyncio.sleep(max(0.0, RESET_FLOOR_SECONDS - (time.monotonic() - started)))
    return {"message": "If that address has an account, a reset link is on its way."}


@router.post("/auth/password-reset/complete", status_code=204, responses=ERRORS)
async def complete_password_reset(
    body: PasswordResetComplete, request: Request, session: SessionDep, now: Now
) -> Response:
    """Set a new password with a reset link's token; every session and token is revoked."""
    await links.complete_reset(session, secret_key(request), body.token, body.password, now)
    return Response(status_code=204)


@router.post("/me/password", status_code=204, responses=ERRORS)
async def change_password(
    body: PasswordChange, session: SessionDep, found: CurrentToken, now: Now
) -> Response:
    """Change your password; your web sessions end (API tokens keep working)."""
    user, _token = found
    await people.change_password(session, user, body.current_password, body.new_password, now)
    return Response(status_code=204)


@router.get("/me/tokens", response_model=CredentialList, responses=ERRORS)
async def list_credentials(session: SessionDep, user: CurrentUser, now: Now) -> dict[str, Any]:
    """Your API tokens and web sessions that still work (never their secrets)."""
    rows = await people.credentials_of(session, user.id, now)
    return {"data": [people.credential_view(row) for row in rows]}


@router.delete("/me/tokens/{token_id}", status_code=204, responses=ERRORS)
async def revoke_credential(token_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Revoke one of your API tokens or web sessions."""
    if not await revoke_token(session, token_id, user.id):
        raise NotFound(f"Token {token_id} was not found.")
    return Response(status_code=204)
