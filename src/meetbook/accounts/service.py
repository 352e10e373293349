"""Account rules shared by the API, the web page and the CLI."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.accounts.schemas import ProfilePatch
from meetbook.auth.passwords import hash_password, verify_password
from meetbook.auth.permissions import authorize
from meetbook.auth.strength import check_new_password
from meetbook.db import open_session
from meetbook.errors import BadRequest, Conflict, NotFound
from meetbook.meetings.timed_notices import reminder_minutes_of, resync_user_notices
from meetbook.models import Team, TeamMember, User
from meetbook.text import MAX_NAME_LENGTH, clean_line, hostile_character

ROLES = ("member", "admin")


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_email(email: str) -> str:
    email = normalize_email(email)
    local, _, domain = email.partition("@")
    if (
        not local
        or "." not in domain
        or any(c.isspace() for c in email)
        # The rule for every human text: controls (a CR/LF could start a mail header, NUL
        # cannot be stored) and invisible or bidi characters.
        or hostile_character(email) is not None
        or len(email) > 254
    ):
        raise BadRequest("email must be an address such as ana@example.com.")
    return email


async def authenticate(
    sessionmaker: async_sessionmaker[AsyncSession], email: str, password: str
) -> User | None:
    """The user with this email and password, or None.

    The user is read in a short read-only session of its own, and the (deliberately
    slow) password check runs after it closed: no transaction, connection or, on SQLite,
    write lock is held while Argon2 works.
    """
    email = normalize_email(email)
    # No stored address has control characters, and PostgreSQL cannot even compare NUL:
    # such an email is simply unknown (the dummy verify below keeps the timing).
    user = None
    if hostile_character(email) is None:
        async with open_session(sessionmaker, read_only=True) as session:
            user = await session.scalar(select(User).where(User.email == email))
    if not await verify_password(password, user.password_hash if user else None):
        return None
    # Checked after the password, so a deactivated account costs as long as any other.
    if user is not None and user.deactivated_at is not None:
        return None
    return user


async def create_user(
    session: AsyncSession,
    *,
    name: str,
    email: str,
    timezone: str | None,
    password: str | None,
    is_admin: bool = False,
) -> User:
    name = clean_line(name, "name", MAX_NAME_LENGTH)
    email = check_email(email)
    if password is not None:
        check_new_password(password, user_inputs=(email, name))
    user = User(
        name=name,
        email=email,
        timezone=timezone,
        password_hash=await hash_password(password) if password else None,
        is_admin=is_admin,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(f"A user with the email {user.email} already exists.") from None
    return user


async def update_profile(
    session: AsyncSession, user: User, patch: ProfilePatch, now: datetime
) -> User:
    """Apply a validated profile change (`PATCH /me` and the settings form alike).

    A name left out (or null) keeps its value; a timezone sent as null clears it, so times
    are then read and shown in UTC (CONTRACT §1.4), while one left out keeps its value.
    """
    if patch.name is not None:
        user.name = patch.name
    if "timezone" in patch.model_fields_set:
        user.timezone = patch.timezone
    if patch.locale is not None:
        user.locale = patch.locale
    if patch.reminder_minutes is not None and patch.reminder_minutes != list(
        reminder_minutes_of(user)
    ):
        user.reminder_minutes = patch.reminder_minutes
        await session.flush()
        # Their reminders of confirmed meetings still ahead follow the new setting.
        await resync_user_notices(session, user.id, now)
    await session.flush()
    return user


async def create_team(session: AsyncSession, name: str) -> Team:
    team = Team(name=clean_line(name, "name", MAX_NAME_LENGTH))
    session.add(team)
    await session.flush()
    return team


async def add_member(
    session: AsyncSession, team_id: int, user_id: int, role: str = "member"
) -> None:
    if role not in ROLES:
        raise BadRequest("role must be member or admin.")
    if await session.get(Team, team_id) is None:
        raise NotFound(f"Team {team_id} does not exist.")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    if user.deactivated_at is not None:
        raise Conflict(f"User {user_id} is deactivated.")
    existing = await session.get(TeamMember, (team_id, user_id))
    if existing is not None:
        existing.role = role
    else:
        session.add(TeamMember(team_id=team_id, user_id=user_id, role=role))
    await session.flush()


async def teams_of(session: AsyncSession, user_id: int) -> list[tuple[Team, str]]:
    rows = await session.execute(
        select(Team, TeamMember.role)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id)
        .order_by(func.lower(Team.name), Team.id)
    )
    return [(team, role) for team, role in rows.tuples()]


async def members_of(session: AsyncSession, team_id: int, viewer: User) -> list[tuple[User, str]]:
    """Members of a team the viewer belongs to; 404 otherwise, so teams are not revealed."""
    await authorize(session, viewer, "team.view", team_id=team_id)
    rows = await session.execute(
        select(User, TeamMember.role)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id)
        .order_by(func.lower(User.name), User.id)
    )
    return [(user, role) for user, role in rows.tuples()]
