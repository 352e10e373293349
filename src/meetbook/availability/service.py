"""Availability rules shared by the API, the web page and meeting create. Services flush."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from meetbook.auth.permissions import authorize
from meetbook.availability import calendar, slots
from meetbook.availability.calendar import CalendarRead
from meetbook.availability.schemas import WEEKDAYS, TeamPatch, Week
from meetbook.config import Settings
from meetbook.errors import BadRequest, NotFound
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import MEETING_SECONDS, BusySlot, CalendarFeed, Meeting, Team, TeamMember, User

log = logging.getLogger("meetbook.availability")

DEFAULT_WEEK: dict[str, list[list[str]]] = {
    day: [["09:00", "17:00"]] if day in WEEKDAYS[:5] else [] for day in WEEKDAYS
}
DEFAULT_RANGE = timedelta(days=7)
MAX_RANGE = timedelta(days=31)
# Past confirmed meetings stay in the feed this long, so last week's entries do not vanish.
FEED_HISTORY = timedelta(days=30)
FEED_PATH = "/calendar/{secret}.ics"


# Working hours ---------------------------------------------------------------------------


def working_hours_of(user: User) -> dict[str, list[list[str]]]:
    """The user's week, or Mon-Fri 09:00-17:00 when they never set one."""
    return user.working_hours if user.working_hours is not None else DEFAULT_WEEK


async def set_working_hours(session: AsyncSession, user: User, week: Week) -> None:
    user.working_hours = week.model_dump()
    await session.flush()


def is_outside_working_hours(recipient: User, start: datetime) -> bool:
    """Whether a meeting at `start` falls (even partly) outside the recipient's hours."""
    zone = resolve_zone(recipient.timezone)
    end = start + timedelta(seconds=MEETING_SECONDS)
    return not slots.within_working_hours(working_hours_of(recipient), zone, start, end)


# Booking policy ----------------------------------------------------------------------------


def check_booking_policy(team: Team, start: datetime, now: datetime) -> None:
    """400 naming the rule when `start` breaks the team's minimum notice or horizon."""
    notice = team.min_notice_minutes
    if notice and start < now + timedelta(minutes=notice):
        message = f"date: this team needs at least {notice} minutes' notice for a meeting."
        raise BadRequest(message, details=[{"field": "date", "message": message}])
    if start > now + timedelta(days=team.max_days_ahead):
        message = f"date: this team takes bookings at most {team.max_days_ahead} days ahead."
        raise BadRequest(message, details=[{"field": "date", "message": message}])


async def update_team(session: AsyncSession, team_id: int, user: User, patch: TeamPatch) -> Team:
    """Change a team's name or booking policy: team admins only (404 for non-members)."""
    await authorize(session, user, "team.manage", team_id=team_id)
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"Team {team_id} was not found.")
    for field in patch.model_fields_set:
        value = getattr(patch, field)
        if value is not None:
            setattr(team, field, value)
    await session.flush()
    log.info("team.updated", extra={"team_id": team.id, "by": user.id})
    return team


# Free slots --------------------------------------------------------------------------------


def slot_range(start: int | None, end: int | None, now: datetime) -> tuple[datetime, datetime]:
    """The [from, to) of a free-slots query: now -> +7 days by default, at most 31 days."""
    try:
        first = datetime.fromtimestamp(start, UTC) if start is not None else now
        last = datetime.fromtimestamp(end, UTC) if end is not None else first + DEFAULT_RANGE
    except (OverflowError, OSError, ValueError):
        raise BadRequest("from and to must be dates between the years 1970 and 9999.") from None
    if last <= first:
        raise BadRequest("to must be after from.")
    if last - first > MAX_RANGE:
        raise BadRequest("from and to may be at most 31 days apart.")
    if last.year >= 9999:
        raise BadRequest("from and to must be dates between the years 1970 and 9999.")
    return first, last


_MEMBER_ROW = aliased(TeamMember)
_VIEWER_ROW = aliased(TeamMember)
# A member and their team, if both the member and the viewer belong to it: one statement
# for what was four (member, team, two memberships). Built once, with parameters.
_MEMBER_IN_VIEWERS_TEAM = (
    select(User, Team)
    .join(_MEMBER_ROW, _MEMBER_ROW.user_id == User.id)
    .join(Team, Team.id == _MEMBER_ROW.team_id)
    .join(_VIEWER_ROW, _VIEWER_ROW.team_id == Team.id)
    .where(
        User.id == bindparam("member_id"),
        Team.id == bindparam("team_id"),
        _VIEWER_ROW.user_id == bindparam("viewer_id"),
    )
)


async def free_slots(
    session: AsyncSession,
    team_id: int,
    viewer: User,
    member_id: int,
    window: tuple[datetime, datetime],
    now: datetime,
    settings: Settings,
) -> tuple[list[dict[str, Any]], CalendarRead]:
    """A team member's free one-hour slots in `window`, and how reading their linked
    calendar went (its busy times are taken out); 404 unless both are members."""
    params = {"member_id": member_id, "team_id": team_id, "viewer_id": viewer.id}
    row = (await session.execute(_MEMBER_IN_VIEWERS_TEAM, params)).first()
    if row is None:
        raise NotFound(f"Team {team_id} has no member {member_id} that you can see.")
    member, team = row
    start, end = window
    start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
    # One range read of the (user_id, start_time) index: a busy slot lasts one meeting,
    # so one that overlaps [start, end) starts after start - MEETING_SECONDS.
    rows = await session.execute(
        select(BusySlot.start_time, BusySlot.end_time).where(
            BusySlot.user_id == member_id,
            BusySlot.start_time > start_ts - MEETING_SECONDS,
            BusySlot.start_time < end_ts,
            BusySlot.end_time > start_ts,
        )
    )
    busy = [(datetime.fromtimestamp(s, UTC), datetime.fromtimestamp(e, UTC)) for s, e in rows]
    zone = resolve_zone(member.timezone)
    read = await calendar.calendar_busy(session, member_id, zone, start, end, settings)
    busy.extend(calendar.slot_window_busy(read))
    # Strictly after now (create refuses a start that is not in the future), and the policy.
    earliest = max(now + timedelta(seconds=1), now + timedelta(minutes=team.min_notice_minutes))
    found = slots.free_slots(
        working_hours_of(member),
        zone,
        start=start,
        end=end,
        busy=busy,
        earliest=earliest,
        latest=now + timedelta(days=team.max_days_ahead),
    )
    return [
        {
            "start_time": int(slot.timestamp()),
            "end_time": int(slot.timestamp()) + MEETING_SECONDS,
            "booking_date": slot.strftime("%Y-%m-%d %H:%M:%S"),
            "local_time": slot.astimezone(zone).isoformat(),
        }
        for slot in found
    ], calendar.member_message(read, viewer.id, member_id)


# Calendar feed -----------------------------------------------------------------------------


def feed_url(base_url: str, secret: str) -> str:
    """The feed's address; the secret in it is the only credential."""
    return base_url.rstrip("/") + FEED_PATH.format(secret=secret)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def new_feed_secret(session: AsyncSession, user_id: int, now: datetime) -> str:
    """A fresh feed secret for the user; the previous one stops working."""
    secret = secrets.token_urlsafe(32)
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user_id))
    session.add(CalendarFeed(user_id=user_id, secret_hash=_digest(secret), created_at=now))
    await session.flush()
    log.info("calendar_feed.created", extra={"user_id": user_id})
    return secret


async def revoke_feed(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user_id))
    log.info("calendar_feed.revoked", extra={"user_id": user_id})


async def feed_of(session: AsyncSession, user_id: int) -> CalendarFeed | None:
    return await session.get(CalendarFeed, user_id)


async def feed_owner(session: AsyncSession, secret: str) -> User | None:
    """The user whose feed `secret` opens, if it is the current one."""
    # Only URL-safe secrets of a sane length are looked up; anything else is unknown.
    if not 20 <= len(secret) <= 100:
        return None
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.secret_hash == _digest(secret))
    )
    return await session.get(User, feed.user_id) if feed else None


async def feed_meetings(session: AsyncSession, user_id: int, now: datetime) -> list[Meeting]:
    """Confirmed meetings from 30 days ago on, and pending ones not yet started."""
    now_ts = int(now.timestamp())
    since = int((now - FEED_HISTORY).timestamp())
    wanted = or_(
        (Meeting.status == "confirmed") & (Meeting.end_time > since),
        (Meeting.status == "pending") & (Meeting.start_time > now_ts),
    )
    found: list[Meeting] = []
    # One query per role, each a range on its (participant, start_time) index, rather
    # than an OR of the two participants that neither index serves.
    for column in (Meeting.requester_id, Meeting.recipient_id):
        query = select(Meeting).where(
            column == user_id, Meeting.start_time > since - MEETING_SECONDS, wanted
        )
        found.extend(await session.scalars(query))
    return sorted(found, key=lambda m: (m.start_time, m.id))
