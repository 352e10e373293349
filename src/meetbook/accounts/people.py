"""People in teams (CONTRACT §1.8): roles, removal, deactivation, passwords, credentials.

Shared by the API, the web page and the CLI; services flush, the caller commits. Who
may call each is decided by `auth/permissions.py` before these run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts.service import ROLES
from meetbook.auth.passwords import hash_password, verify_password
from meetbook.auth.strength import check_new_password
from meetbook.auth.tokens import KIND_SESSION, active_tokens
from meetbook.errors import BadRequest, Conflict, NotFound
from meetbook.meetings import machine
from meetbook.models import ApiToken, Meeting, PasswordReset, Team, TeamMember, User
from meetbook.text import MAX_NAME_LENGTH, clean_line

log = logging.getLogger("meetbook.accounts")

LAST_ADMIN = "A team keeps at least one admin: make another member an admin first."


async def create_team_for(session: AsyncSession, user: User, name: str) -> Team:
    """A new team with `user` as its admin."""
    team = Team(name=clean_line(name, "name", MAX_NAME_LENGTH))
    session.add(team)
    await session.flush()
    session.add(TeamMember(team_id=team.id, user_id=user.id, role="admin"))
    await session.flush()
    log.info("team.created", extra={"team_id": team.id, "by": user.id})
    return team


async def _membership(session: AsyncSession, team_id: int, user_id: int) -> TeamMember:
    membership = await session.get(TeamMember, (team_id, user_id))
    if membership is None:
        raise NotFound(f"User {user_id} is not a member of team {team_id}.")
    return membership


async def _admins(session: AsyncSession, team_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == team_id, TeamMember.role == "admin")
    )
    return int(count or 0)


async def _lock_team(session: AsyncSession, team_id: int) -> None:
    """Serialize changes to one team's admins (PostgreSQL; SQLite's writes already are)."""
    await session.execute(select(Team.id).where(Team.id == team_id).with_for_update())


async def set_role(session: AsyncSession, team_id: int, user_id: int, role: str) -> TeamMember:
    """Make a member an admin or a plain member; the last admin stays (409)."""
    if role not in ROLES:
        raise BadRequest("role must be member or admin.")
    await _lock_team(session, team_id)
    membership = await _membership(session, team_id, user_id)
    if membership.role == "admin" and role != "admin" and await _admins(session, team_id) <= 1:
        raise Conflict(LAST_ADMIN)
    membership.role = role
    await session.flush()
    log.info("team.role_changed", extra={"team_id": team_id, "user_id": user_id, "role": role})
    return membership


async def cancel_meetings_of(
    session: AsyncSession, user_id: int, team_ids: list[int], now: datetime, reason: str
) -> int:
    """Cancel `user_id`'s pending and future confirmed meetings in `team_ids`.

    Through the state machine's `cancel`, with the departing person as the actor: the
    other participant hears of it (and gets the calendar cancellation), and each meeting's
    history says so. Returns how many were cancelled.
    """
    if not team_ids:
        return 0
    now_ts = int(now.timestamp())
    meetings = (
        await session.scalars(
            select(Meeting)
            .where(
                Meeting.team_id.in_(team_ids),
                or_(Meeting.requester_id == user_id, Meeting.recipient_id == user_id),
                Meeting.status.in_(machine.ACTIONS["cancel"].sources),
                Meeting.start_time > now_ts,
            )
            .order_by(Meeting.id)
        )
    ).all()
    for meeting in meetings:
        await machine.apply_action(session, meeting, "cancel", user_id, now, reason=reason)
    return len(meetings)


async def remove_member(
    session: AsyncSession, team_id: int, user_id: int, now: datetime, *, by: int | None
) -> int:
    """Remove a member (the last admin stays, 409) and cancel their meetings in the team.

    Returns how many meetings were cancelled.
    """
    await _lock_team(session, team_id)
    membership = await _membership(session, team_id, user_id)
    if membership.role == "admin" and await _admins(session, team_id) <= 1:
        raise Conflict(LAST_ADMIN)
    user = await session.get(User, user_id)
    name = user.name if user else "A member"
    reason = f"{name} left the team." if by == user_id else f"{name} was removed from the team."
    cancelled = await cancel_meetings_of(session, user_id, [team_id], now, reason)
    await session.delete(membership)
    await session.flush()
    log.info(
        "team.member_removed",
        extra={"team_id": team_id, "user_id": user_id, "by": by, "cancelled": cancelled},
    )
    return cancelled


async def revoke_all_credentials(
    session: AsyncSession, user_id: int, now: datetime, *, keep: int | None = None, kind: str = ""
) -> None:
    """Revoke the user's tokens and sessions (only `kind` when given; never `keep`)."""
    query = update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if keep is not None:
        query = query.where(ApiToken.id != keep)
    if kind:
        query = query.where(ApiToken.kind == kind)
    await session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))


async def deactivate_user(session: AsyncSession, user_id: int, now: datetime) -> int:
    """Deactivate an account: no sign-in, every credential revoked, out of every team,
    with its pending and future confirmed meetings cancelled. Returns how many were.

    Refused (409) while the user is the last admin of a team.
    """
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    memberships = list(
        await session.scalars(select(TeamMember).where(TeamMember.user_id == user_id))
    )
    for membership in memberships:
        await _lock_team(session, membership.team_id)
        if membership.role == "admin" and await _admins(session, membership.team_id) <= 1:
            raise Conflict(
                f"User {user_id} is the last admin of team {membership.team_id}: "
                "make another member an admin first."
            )
    reason = f"{user.name}'s account was deactivated."
    team_ids = [m.team_id for m in memberships]
    cancelled = await cancel_meetings_of(session, user_id, team_ids, now, reason)
    for membership in memberships:
        await session.delete(membership)
    user.deactivated_at = user.deactivated_at or now
    await revoke_all_credentials(session, user_id, now)
    await _end_resets(session, user_id, now)
    await session.flush()
    log.info("user.deactivated", extra={"user_id": user_id, "cancelled": cancelled})
    return cancelled


async def _end_resets(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Every unused password-reset link of the user stops working."""
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


async def set_password(session: AsyncSession, user: User, password: str, now: datetime) -> None:
    """Give `user` a new password (checked for strength); older reset links stop working."""
    check_new_password(password, user_inputs=(user.email, user.name))
    user.password_hash = await hash_password(password)
    await _end_resets(session, user.id, now)
    await session.flush()


async def change_password(
    session: AsyncSession,
    user: User,
    current: str,
    new: str,
    now: datetime,
    *,
    keep_session: int | None = None,
) -> None:
    """`POST /me/password` and the settings form: the current password proves it is them.

    The user's other web sessions end (a stolen session must not outlive the change);
    API tokens keep working, as scripts would otherwise break silently.
    """
    if not await verify_password(current, user.password_hash):
        raise BadRequest(
            "current_password is wrong.",
            details=[{"field": "current_password", "message": "is wrong"}],
        )
    if current == new:
        raise BadRequest(
            "new_password must differ from the current one.",
            details=[{"field": "new_password", "message": "must differ from the current one"}],
        )
    try:
        await set_password(session, user, new, now)
    except BadRequest as error:
        message = error.message.replace("Password", "new_password", 1)
        raise BadRequest(message, details=[{"field": "new_password", "message": message}]) from None
    await revoke_all_credentials(session, user.id, now, keep=keep_session, kind=KIND_SESSION)


def credential_view(token: ApiToken) -> dict[str, object]:
    """A token or session as `GET /me/tokens` shows it (never its secret)."""
    return {
        "id": token.id,
        "name": token.name,
        "kind": token.kind,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
        "user_agent": token.user_agent,
    }


async def credentials_of(session: AsyncSession, user_id: int, now: datetime) -> list[ApiToken]:
    return await active_tokens(session, user_id, now)
