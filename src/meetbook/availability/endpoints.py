"""Availability routes (CONTRACT §1.7, §1.8): working hours, free slots, team booking
policy, and the calendar feed with its sign-in-free address."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from meetbook.auth.deps import CurrentUser, throttle
from meetbook.availability import calendar, service
from meetbook.availability.feed import build_feed
from meetbook.availability.schemas import (
    CalendarFeedOut,
    FreeSlotList,
    LinkedCalendarIn,
    LinkedCalendarOut,
    TeamOut,
    TeamPatch,
    WorkingHoursIn,
    WorkingHoursOut,
)
from meetbook.clock import Now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import NotFound
from meetbook.i18n import speaking
from meetbook.meetings.endpoints import ERRORS
from meetbook.meetings.queries import parse_bound, user_names
from meetbook.meetings.timeparse import resolve_zone
from meetbook.params import IdPath

router = APIRouter(tags=["availability"])

FEED_PATH = service.FEED_PATH
_BOUND = Query(
    max_length=64, description="ISO 8601 date-time (UTC unless it has an offset) or unix seconds."
)


def _working_hours(user: Any) -> dict[str, Any]:
    return {
        "timezone": resolve_zone(user.timezone).key,
        "days": service.working_hours_of(user),
    }


@router.get("/api/v3/me/working-hours", response_model=WorkingHoursOut, responses=ERRORS)
async def get_working_hours(user: CurrentUser) -> dict[str, Any]:
    """Your working hours: local intervals per weekday in your own zone."""
    return _working_hours(user)


@router.put("/api/v3/me/working-hours", response_model=WorkingHoursOut, responses=ERRORS)
async def put_working_hours(
    body: WorkingHoursIn, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Replace your working hours (every weekday key; [] for a day off)."""
    await service.set_working_hours(session, user, body.days)
    return _working_hours(user)


@router.get(
    "/api/v3/teams/{team_id}/members/{user_id}/free-slots",
    response_model=FreeSlotList,
    responses=ERRORS,
)
async def free_slots(
    team_id: IdPath,
    user_id: IdPath,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    from_: Annotated[str | None, Query(alias="from"), _BOUND] = None,
    to: Annotated[str | None, _BOUND] = None,
) -> dict[str, Any]:
    """A teammate's free one-hour slots (local :00 and :30) in their working hours, apart
    from their confirmed meetings and their linked calendar's busy times. When that
    calendar cannot be read the slots ignore it and `calendar.status` is `unavailable`."""
    window = service.slot_range(parse_bound("from", from_), parse_bound("to", to), now)
    settings: Settings = request.app.state.settings
    found, read = await service.free_slots(session, team_id, user, user_id, window, now, settings)
    return {"data": found, "calendar": read.as_json()}


@router.get("/api/v3/me/calendar", response_model=LinkedCalendarOut, responses=ERRORS)
async def get_linked_calendar(session: SessionDep, user: CurrentUser) -> dict[str, str]:
    """Your linked CalDAV calendar (never its password); 404 when none is linked."""
    link = await calendar.get_link(session, user.id)
    if link is None:
        raise NotFound("You have no linked calendar.")
    return calendar.link_json(link)


@router.put("/api/v3/me/calendar", response_model=LinkedCalendarOut, responses=ERRORS)
async def put_linked_calendar(
    body: LinkedCalendarIn, request: Request, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, str]:
    """Link a CalDAV calendar (replacing any other): it is read once first, and a
    calendar that cannot be read is refused with the server's reason."""
    settings = request.app.state.settings
    # Read first: the session has not begun, so no write lock waits for the server.
    account = await calendar.read_new_calendar(body, settings, now)
    link = await calendar.link_calendar(session, user, account, settings, now)
    return calendar.link_json(link)


@router.delete("/api/v3/me/calendar", status_code=204, responses=ERRORS)
async def delete_linked_calendar(session: SessionDep, user: CurrentUser) -> Response:
    """Unlink your calendar (entries already written there stay)."""
    await calendar.unlink_calendar(session, user.id)
    return Response(status_code=204)


@router.patch("/api/v3/teams/{team_id}", response_model=TeamOut, responses=ERRORS)
async def patch_team(
    team_id: IdPath, body: TeamPatch, session: SessionDep, user: CurrentUser
) -> dict[str, Any]:
    """Rename a team or set its booking policy (team admins)."""
    team = await service.update_team(session, team_id, user, body)
    return {
        "id": team.id,
        "name": team.name,
        "min_notice_minutes": team.min_notice_minutes,
        "max_days_ahead": team.max_days_ahead,
    }


@router.post(
    "/api/v3/me/calendar-feed", status_code=201, response_model=CalendarFeedOut, responses=ERRORS
)
async def create_calendar_feed(
    request: Request, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, str]:
    """A new secret address of your calendar feed; the previous one stops working."""
    secret = await service.new_feed_secret(session, user.id, now)
    return {"url": service.feed_url(request.app.state.settings.base_url, secret)}


@router.delete("/api/v3/me/calendar-feed", status_code=204, responses=ERRORS)
async def delete_calendar_feed(session: SessionDep, user: CurrentUser) -> Response:
    """Revoke your calendar feed's address."""
    await service.revoke_feed(session, user.id)
    return Response(status_code=204)


_FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {}}, "description": "The feed"},
    304: {"description": "Unchanged since the ETag given in If-None-Match"},
    **{status: ERRORS[status] for status in (404, 429, 500, 503)},
}


@router.get(FEED_PATH, responses=_FEED_RESPONSES, response_class=Response)
async def calendar_feed(
    secret: str,
    request: Request,
    session: SessionDep,
    now: Now,
    if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """Your meetings as an iCalendar feed (no sign-in: the address is the secret)."""
    settings: Settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    await throttle(request, settings.rate_limit_calendar_feed, "calendar-feed", address)
    owner = await service.feed_owner(session, secret)
    if owner is None:
        raise NotFound("This calendar feed does not exist or has been revoked.")
    meetings = await service.feed_meetings(session, owner.id, now)
    names = await user_names(session, meetings)
    with speaking(owner.locale):
        body = build_feed(meetings, names, domain=settings.mail_domain, base_url=settings.base_url)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    # The address is a credential: no shared cache may keep it; clients revalidate.
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    given = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
    if etag in given or "*" in given:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)
