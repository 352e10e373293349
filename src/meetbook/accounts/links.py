"""Team invites and password resets: single-use, expiring links sent by email.

The link's token is never stored (`auth/links.py`); each use is a guarded UPDATE
(`... WHERE used_at IS NULL AND expires_at > now`), so a link works once even when two
requests race.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import people
from meetbook.accounts.service import ROLES, check_email, create_user, normalize_email
from meetbook.auth.links import link_matches, link_row_id, new_salt
from meetbook.auth.strength import check_new_password
from meetbook.errors import BadRequest, Conflict, NotFound
from meetbook.i18n import N_
from meetbook.models import PasswordReset, TeamInvite, TeamMember, User
from meetbook.notifications.outbox import enqueue_account_email

log = logging.getLogger("meetbook.accounts")

INVITE_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=1)
# More reset emails than this per account and hour are not sent (no mail-bombing).
RESETS_PER_HOUR = 3

# Why a link cannot be used: the API says these in English; the pages translate them.
LINK_UNKNOWN = N_("This link is not valid: check that it was copied whole.")
INVITE_USED = N_("This invite has already been used. Sign in instead.")
INVITE_REVOKED = N_("This invite was withdrawn by a team admin; ask them for a new one.")
INVITE_EXPIRED = N_("This invite has expired (they last 7 days); ask a team admin for a new one.")
RESET_DONE = N_("This reset link has already been used or replaced; ask for a new one.")
RESET_EXPIRED = N_("This reset link has expired (they last 1 hour); ask for a new one.")


def _row_id(token: object) -> int:
    row_id = link_row_id(token)
    if row_id is None:
        raise NotFound(LINK_UNKNOWN)
    return row_id


# Invites -----------------------------------------------------------------------------------


async def create_invite(
    session: AsyncSession, team_id: int, email: str, role: str, *, by: int, now: datetime
) -> TeamInvite:
    """Invite `email` to the team as `role`; a pending invite to the same address is
    replaced (its link stops working), so "send again" is just inviting again."""
    email = check_email(email)
    if role not in ROLES:
        raise BadRequest("role must be member or admin.")
    member = await session.scalar(
        select(User.id)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id, User.email == email)
    )
    if member is not None:
        raise Conflict(f"{email} is already a member of this team.")
    await session.execute(
        update(TeamInvite)
        .where(*_pending(now), TeamInvite.team_id == team_id, TeamInvite.email == email)
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    invite = TeamInvite(
        team_id=team_id,
        email=email,
        role=role,
        salt=new_salt(),
        invited_by_id=by,
        created_at=now,
        expires_at=now + INVITE_LIFETIME,
    )
    session.add(invite)
    await session.flush()
    existing = await session.scalar(select(User.id).where(User.email == email))
    await enqueue_account_email(
        session, "account-invite", ref_id=invite.id, to_email=email, user_id=existing, now=now
    )
    log.info("team.invite.created", extra={"team_id": team_id, "invite_id": invite.id, "by": by})
    return invite


def _pending(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        TeamInvite.accepted_at.is_(None),
        TeamInvite.revoked_at.is_(None),
        TeamInvite.expires_at > now,
    )


async def pending_invites(session: AsyncSession, team_id: int, now: datetime) -> list[TeamInvite]:
    rows = await session.scalars(
        select(TeamInvite)
        .where(TeamInvite.team_id == team_id, *_pending(now))
        .order_by(TeamInvite.created_at.desc(), TeamInvite.id.desc())
    )
    return list(rows)


async def revoke_invite(session: AsyncSession, team_id: int, invite_id: int, now: datetime) -> None:
    result = await session.execute(
        update(TeamInvite)
        .where(TeamInvite.id == invite_id, TeamInvite.team_id == team_id, *_pending(now))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"Invite {invite_id} is not a pending invite of team {team_id}.")


async def open_invite(
    session: AsyncSession, secret_key: str, token: object, now: datetime
) -> TeamInvite:
    """The pending invite a link's token names, or 404 saying why it cannot be used."""
    row_id = _row_id(token)
    invite = await session.get(TeamInvite, row_id)
    if invite is None or not link_matches(secret_key, "invite", row_id, invite.salt, str(token)):
        raise NotFound(LINK_UNKNOWN)
    if invite.accepted_at is not None:
        raise NotFound(INVITE_USED)
    if invite.revoked_at is not None:
        raise NotFound(INVITE_REVOKED)
    if invite.expires_at <= now:
        raise NotFound(INVITE_EXPIRED)
    return invite


async def _use_invite(session: AsyncSession, invite: TeamInvite, user: User, now: datetime) -> None:
    result = await session.execute(
        update(TeamInvite)
        .where(TeamInvite.id == invite.id, *_pending(now))
        .values(accepted_at=now, accepted_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(INVITE_USED)
    existing = await session.get(TeamMember, (invite.team_id, user.id))
    if existing is None:
        session.add(TeamMember(team_id=invite.team_id, user_id=user.id, role=invite.role))
    elif invite.role == "admin":
        existing.role = "admin"
    await session.flush()
    log.info(
        "team.invite.accepted",
        extra={"team_id": invite.team_id, "invite_id": invite.id, "user_id": user.id},
    )


async def account_for_invite(session: AsyncSession, invite: TeamInvite) -> User | None:
    return await session.scalar(select(User).where(User.email == invite.email))


async def accept_with_new_account(
    session: AsyncSession,
    invite: TeamInvite,
    *,
    name: str,
    timezone: str | None,
    password: str,
    now: datetime,
) -> User:
    """Sign up from an invite: the account (with the invited email) joins the team."""
    if await account_for_invite(session, invite) is not None:
        raise Conflict("An account with this email already exists: sign in to accept.")
    user = await create_user(
        session, name=name, email=invite.email, timezone=timezone, password=password
    )
    await _use_invite(session, invite, user, now)
    return user


async def accept_as(session: AsyncSession, invite: TeamInvite, user: User, now: datetime) -> None:
    """An existing account accepts: only when signed in as the invited address."""
    if normalize_email(user.email) != invite.email:
        raise Conflict(f"This invite is for {invite.email}, but you are signed in as {user.email}.")
    if user.deactivated_at is not None:
        raise Conflict("This account is deactivated.")
    await _use_invite(session, invite, user, now)


# Password resets ---------------------------------------------------------------------------


async def request_reset(session: AsyncSession, email: str, now: datetime) -> bool:
    """Email a reset link when `email` is an active account's; True when one was queued.

    The caller answers the same (202) either way.
    """
    email = normalize_email(email)
    user = await session.scalar(
        select(User).where(User.email == email, User.deactivated_at.is_(None))
    )
    if user is None:
        return False
    recent = await session.scalar(
        select(func.count())
        .select_from(PasswordReset)
        .where(
            PasswordReset.user_id == user.id, PasswordReset.created_at > now - timedelta(hours=1)
        )
    )
    if (recent or 0) >= RESETS_PER_HOUR:
        log.info("password_reset.throttled", extra={"user_id": user.id})
        return False
    reset = PasswordReset(
        user_id=user.id, salt=new_salt(), created_at=now, expires_at=now + RESET_LIFETIME
    )
    session.add(reset)
    await session.flush()
    await enqueue_account_email(
        session, "password-reset", ref_id=reset.id, to_email=user.email, user_id=user.id, now=now
    )
    log.info("password_reset.requested", extra={"user_id": user.id, "reset_id": reset.id})
    return True


async def open_reset(
    session: AsyncSession, secret_key: str, token: object, now: datetime
) -> PasswordReset:
    row_id = _row_id(token)
    reset = await session.get(PasswordReset, row_id)
    if reset is None or not link_matches(
        secret_key, "password-reset", row_id, reset.salt, str(token)
    ):
        raise NotFound(LINK_UNKNOWN)
    if reset.used_at is not None:
        raise NotFound(RESET_DONE)
    if reset.expires_at <= now:
        raise NotFound(RESET_EXPIRED)
    return reset


async def complete_reset(
    session: AsyncSession, secret_key: str, token: object, password: str, now: datetime
) -> User:
    """Set the new password from a reset link: once, within the hour; every session and
    token of the user is revoked."""
    reset = await open_reset(session, secret_key, token, now)
    user = await session.get(User, reset.user_id)
    if user is None or user.deactivated_at is not None:
        raise NotFound(LINK_UNKNOWN)
    # Strength first: a weak password leaves the link usable for a better one.
    check_new_password(password, user_inputs=(user.email, user.name))
    result = await session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(RESET_DONE)
    await people.set_password(session, user, password, now)
    await people.revoke_all_credentials(session, user.id, now)
    log.info("password_reset.completed", extra={"user_id": user.id, "reset_id": reset.id})
    return user
