"""The meeting pages: the four lists, one meeting, the actions and "Request a meeting"."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts.service import members_of, teams_of
from meetbook.availability.calendar import describe_conflict
from meetbook.clock import Now, request_now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest, Conflict, NotFound
from meetbook.i18n import N_, _
from meetbook.jsonbody import validate_body
from meetbook.meetings import queries, service
from meetbook.meetings.endpoints import throttle_create
from meetbook.meetings.machine import (
    ActionName,
    allowed_actions,
    awaited_user_id,
    effective_status,
    status_filter,
)
from meetbook.meetings.schemas import (
    MAX_LINK_LENGTH,
    MAX_REASON_LENGTH,
    MeetingCreate,
    ProposeBody,
    ReasonBody,
)
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import MEETING_SECONDS, Meeting, MeetingHistory, Team, User
from meetbook.text import MAX_NOTES_LENGTH, MAX_TITLE_LENGTH
from meetbook.timeformat import (
    day_label,
    format_date,
    format_instant,
    format_moment,
    format_range,
    format_time_range,
    offset_label,
    zone_offset,
)
from meetbook.web.errors import error_page
from meetbook.web.flash import Flash, add_flash
from meetbook.web.free_times import free_times, parse_day
from meetbook.web.session import (
    Viewer,
    ViewerDep,
    app_settings,
    read_form,
    request_target,
    safe_next,
)
from meetbook.web.templating import render

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str
    heading: str
    empty_title: str
    empty_text: str
    query: queries.MeetingFilter


TABS = (
    Tab(
        "pending-meeting",
        N_("Pending"),
        N_("Requests waiting for your answer"),
        N_("Nothing is waiting for you"),
        N_("When a teammate asks you for a meeting, it appears here to confirm or reject."),
        queries.MeetingFilter(statuses=("pending",), role="recipient", limit=PAGE_SIZE),
    ),
    Tab(
        "upcoming",
        N_("Upcoming"),
        N_("Confirmed meetings ahead"),
        N_("No confirmed meetings ahead"),
        N_("Meetings you confirm, or that others confirm with you, are listed here."),
        queries.MeetingFilter(statuses=("confirmed",), limit=PAGE_SIZE),
    ),
    Tab(
        "sent",
        N_("Sent"),
        N_("Your requests awaiting an answer"),
        N_("No requests awaiting an answer"),
        N_("Ask a teammate for a meeting; it waits here until they answer."),
        queries.MeetingFilter(statuses=("pending",), role="requester", limit=PAGE_SIZE),
    ),
    Tab(
        "past",
        N_("Past"),
        N_("Past and closed meetings"),
        N_("No past meetings yet"),
        N_("Completed, rejected, cancelled and expired meetings are kept here."),
        queries.MeetingFilter(
            statuses=("completed", "rejected", "cancelled", "expired"),
            order="desc",
            limit=PAGE_SIZE,
        ),
    ),
)
TABS_BY_SLUG = {tab.slug: tab for tab in TABS}
DEFAULT_TAB = "pending-meeting"

STATUS_LABELS: dict[str, str] = {
    "pending": N_("Awaiting answer"),
    "confirmed": N_("Confirmed"),
    "rejected": N_("Rejected"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "completed": N_("Completed"),
}


@dataclass(frozen=True)
class MeetingView:
    """A meeting as one viewer reads it: names, their own zone, the actions open to them."""

    id: int
    booking_number: str
    status: str
    status_label: str
    viewer_is_recipient: bool
    requester_name: str
    recipient_name: str
    other_name: str
    team_name: str
    day: str
    time_range: str
    when: str
    zone_name: str
    recipient_when: str | None
    link: str | None
    title: str | None
    notes: str | None
    reason: str | None
    created: str
    updated: str
    # What the state machine lets this viewer do now; the page offers exactly these.
    actions: tuple[ActionName, ...]
    # A confirmed meeting's proposed new time, in the viewer's zone (CONTRACT §1.6).
    proposal_when: str | None = None
    proposal_by_viewer: bool = False
    proposal_reason: str | None = None
    # The zone a proposed time is read in (the meeting's: the recipient's).
    meeting_zone: str = "UTC"
    # The viewer's answer is awaited (a request, a counter-proposal or a proposal).
    awaits_viewer: bool = False


class Reader(Protocol):
    """Who reads a meeting: a signed-in viewer, or the reader of an email's answer link."""

    @property
    def user(self) -> User: ...

    @property
    def zone(self) -> ZoneInfo: ...


# What each history action reads as on the page, by someone else or by the viewer.
HISTORY_LABELS: dict[str, tuple[str, str]] = {
    "created": (N_("%(who)s requested the meeting"), N_("You requested the meeting")),
    "confirmed": (N_("%(who)s confirmed"), N_("You confirmed")),
    "rejected": (N_("%(who)s rejected the request"), N_("You rejected the request")),
    "cancelled": (N_("%(who)s cancelled"), N_("You cancelled")),
    "expired": (N_("Expired without an answer"),) * 2,
    "completed": (N_("Took place"),) * 2,
    "proposed": (N_("%(who)s proposed another time"), N_("You proposed another time")),
    "rescheduled": (N_("%(who)s accepted the new time"), N_("You accepted the new time")),
    "proposal-declined": (N_("%(who)s declined the new time"), N_("You declined the new time")),
}


@dataclass(frozen=True)
class HistoryView:
    """One history entry as the viewer reads it, in their zone."""

    when: str
    text: str
    reason: str | None


def history_views(
    rows: Sequence[MeetingHistory], names: dict[int, str], viewer: Viewer
) -> list[HistoryView]:
    views = []
    for row in rows:
        by_other, by_viewer = HISTORY_LABELS.get(row.action, (row.action, row.action))
        if row.actor_id is not None and row.actor_id == viewer.user.id:
            text = _(by_viewer)
        else:
            who = names.get(row.actor_id, _("Someone")) if row.actor_id else _("Someone")
            text = _(by_other, who=who) if "%(who)s" in by_other else _(by_other)
        views.append(HistoryView(format_instant(row.at, viewer.zone), text, row.reason))
    return views


async def _team_names(session: AsyncSession, team_ids: set[int]) -> dict[int, str]:
    if not team_ids:
        return {}
    rows = await session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
    return {team_id: name for team_id, name in rows.tuples()}


async def meeting_views(
    session: AsyncSession,
    meetings: Sequence[Meeting],
    viewer: Reader,
    now: datetime,
    names: Mapping[int, str] | None = None,
) -> list[MeetingView]:
    """The meetings as pages show them to `viewer`; `names` (user id -> name), if the
    caller read them with the meetings."""
    if names is None:
        names = await queries.user_names(session, meetings)
    teams = await _team_names(session, {m.team_id for m in meetings})
    now_ts = int(now.timestamp())
    views = []
    for m in meetings:
        status = effective_status(m, now_ts)
        is_recipient = m.recipient_id == viewer.user.id
        requester = names.get(m.requester_id) or _("Someone")
        recipient = names.get(m.recipient_id) or _("Someone")
        recipient_zone = resolve_zone(m.timezone)
        # The requester planned the time in the recipient's zone: show it to them too.
        recipient_when = None
        if not is_recipient and recipient_zone.key != viewer.zone.key:
            recipient_when = (
                format_moment(m.start_time, recipient_zone) + f" ({recipient_zone.key})"
            )
        link = m.link if m.link and m.link.startswith(("https://", "http://")) else None
        views.append(
            MeetingView(
                id=m.id,
                booking_number=m.booking_number,
                status=status,
                status_label=_(STATUS_LABELS[status]) if status in STATUS_LABELS else status,
                viewer_is_recipient=is_recipient,
                requester_name=requester,
                recipient_name=recipient,
                other_name=requester if is_recipient else recipient,
                team_name=teams.get(m.team_id) or _("a team"),
                day=day_label(m.start_time, viewer.zone, now),
                time_range=format_time_range(m.start_time, m.end_time, viewer.zone),
                when=format_range(m.start_time, m.end_time, viewer.zone),
                zone_name=viewer.zone.key,
                recipient_when=recipient_when,
                link=link,
                title=m.title,
                notes=m.notes,
                reason=m.reason,
                created=format_instant(m.created_at, viewer.zone),
                updated=format_instant(m.updated_at, viewer.zone),
                actions=allowed_actions(m, viewer.user.id, now),
                proposal_when=(
                    format_range(m.proposed_start, m.proposed_start + MEETING_SECONDS, viewer.zone)
                    if m.proposed_start is not None and status == "confirmed"
                    else None
                ),
                proposal_by_viewer=m.proposed_by == viewer.user.id,
                proposal_reason=m.proposal_reason,
                meeting_zone=recipient_zone.key,
                awaits_viewer=awaited_user_id(m, status) == viewer.user.id,
            )
        )
    return views


async def _count(session: AsyncSession, viewer: Viewer, tab: Tab, now: datetime) -> int:
    f = tab.query
    now_ts = int(now.timestamp())
    if tab.slug == "pending-meeting":  # what awaits the viewer's answer, as in the list
        awaiting = queries.awaiting_filter(viewer.user.id, now_ts)
        count = select(func.count()).select_from(Meeting).where(awaiting)
        return int(await session.scalar(count) or 0)
    column = Meeting.recipient_id if f.role == "recipient" else Meeting.requester_id
    query = select(func.count()).select_from(Meeting).where(column == viewer.user.id)
    query = query.where(*(status_filter(s, now_ts) for s in f.statuses))
    return int(await session.scalar(query) or 0)


def _tab_url(slug: str, cursor: str | None = None) -> str:
    params = {"tab": slug} | ({"cursor": cursor} if cursor else {})
    return f"/meetings?{urlencode(params)}"


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/meetings", status_code=303)


@router.get("/meetings")
async def meetings_page(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    now: Now,
    tab: str = DEFAULT_TAB,
    cursor: str | None = None,
) -> Response:
    """One tab of the viewer's meetings, in their zone."""
    current = TABS_BY_SLUG.get(tab)
    if current is None:
        return RedirectResponse(_tab_url(DEFAULT_TAB), status_code=303)
    after = None
    if cursor:
        try:
            after = queries.decode_cursor(cursor, current.query.order)
        except BadRequest:
            message = _("This page link is no longer valid; start from the first page.")
            return error_page(request, 400, message, viewer)
    if current.slug == "pending-meeting":  # the API's /meeting/pending, as the email promises
        page = await queries.awaiting_answer(session, viewer.user.id, None, PAGE_SIZE, after, now)
    else:
        page = await queries.list_meetings(
            session, viewer.user.id, replace(current.query, after=after), now
        )
    counts = {
        slug: await _count(session, viewer, TABS_BY_SLUG[slug], now)
        for slug in ("pending-meeting", "sent")
    }
    context = {
        "title": f"{_(current.label)} · meetbook",
        "nav": "meetings",
        "tabs": TABS,
        "tab": current,
        "counts": counts,
        "meetings": await meeting_views(session, page.meetings, viewer, now, page.names),
        "next_url": _tab_url(current.slug, page.next_cursor) if page.next_cursor else None,
        "first_url": _tab_url(current.slug) if cursor else None,
        "back": request_target(request),
        "max_reason": MAX_REASON_LENGTH,
    }
    return render(request, "meetings.html", context, viewer=viewer)


@router.get("/meetings/{meeting_id:int}")
async def meeting_page(
    request: Request, meeting_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """One meeting: every detail and the actions open to the viewer."""
    try:
        if meeting_id > MAX_ID:
            raise NotFound(f"Meeting {meeting_id} was not found.")
        meeting = await service.meeting_for_participant(session, meeting_id, viewer.user)
    except NotFound:
        message = _("This meeting does not exist, or it is not one of yours.")
        return error_page(request, 404, message, viewer)
    rows = await service.meeting_history(
        session, meeting.id, viewer.user, now, sessionmaker=request.app.state.sessionmaker
    )
    view = (await meeting_views(session, [meeting], viewer, now))[0]
    names = await queries.user_names(session, [meeting])
    context = {
        "title": _("Meeting with %(name)s", name=view.other_name) + " · meetbook",
        "nav": "meetings",
        "m": view,
        "history": history_views(rows, names, viewer),
        "back": request_target(request),
        "max_reason": MAX_REASON_LENGTH,
        # After a refusal over a linked-calendar busy time: offer to go ahead anyway.
        "calendar_conflict": request.query_params.get("calendar_conflict") == "1",
    }
    return render(request, "meeting.html", context, viewer=viewer)


@router.get("/meetings/{meeting_id:int}/ics")
async def meeting_calendar_file(
    request: Request, meeting_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """The meeting as an .ics file: the API's calendar object, with the invites' UID."""
    try:
        if meeting_id > MAX_ID:
            raise NotFound(f"Meeting {meeting_id} was not found.")
        settings: Settings = request.app.state.settings
        body = await service.meeting_ics(
            session,
            meeting_id,
            viewer.user,
            now,
            domain=settings.mail_domain,
            base_url=settings.base_url,
        )
    except NotFound:
        message = _("This meeting does not exist, or it is not one of yours.")
        return error_page(request, 404, message, viewer)
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'},
    )


_DONE: dict[ActionName, str] = {
    "confirm": N_(
        "Confirmed the meeting with %(other)s on %(when)s. You both get a calendar invite."
    ),
    "reject": N_("Rejected the request from %(other)s for %(when)s. They will be told."),
    "cancel": N_("Cancelled the meeting with %(other)s on %(when)s. They will be told."),
    "propose": N_("Proposed %(when)s to %(other)s. They will be asked to answer."),
    "accept": N_("Moved the meeting with %(other)s to %(when)s. You both get an updated invite."),
    "decline": N_("Kept the meeting with %(other)s on %(when)s. They will be told."),
}
_AFTER: dict[ActionName, tuple[str, str]] = {
    "propose": ("/meetings?tab=sent", N_("See your requests")),
    "accept": ("/meetings?tab=upcoming", N_("See it in Upcoming")),
    "decline": ("/meetings?tab=upcoming", N_("See it in Upcoming")),
    "confirm": ("/meetings?tab=upcoming", N_("See it in Upcoming")),
    "reject": ("/meetings?tab=past", N_("See it in Past")),
    "cancel": ("/meetings?tab=past", N_("See it in Past")),
}


async def _calendar_refusal(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    now: datetime,
    meeting_id: int,
    action: ActionName,
) -> Response | None:
    """As the API's confirm and accept: a time over a busy time of the viewer's linked
    calendar is refused, naming it, with a way to go ahead anyway (the meeting page's
    "Confirm anyway" form, which sends `ignore_calendar_conflicts`)."""
    # End the transaction that loaded the viewer (it wrote nothing): on SQLite it holds
    # the one write lock, which must not wait for the calendar server.
    await session.commit()
    check = (request.app.state.sessionmaker, app_settings(request))
    conflicts = await service.calendar_conflicts(meeting_id, viewer.user, action, now, check)
    if not conflicts:
        return None
    what, when, more = describe_conflict(conflicts, viewer.zone)
    text = _(
        "This time overlaps %(what)s (%(when)s) in your linked calendar%(more)s.",
        what=what or _("a busy time"),
        when=when,
        more=more,
    )
    response = RedirectResponse(f"/meetings/{meeting_id}?calendar_conflict=1", status_code=303)
    anyway = f"/meetings/{meeting_id}?calendar_conflict=1#anyway"
    add_flash(request, response, Flash("error", text, href=anyway, link_text=_("Confirm anyway…")))
    return response


async def _act(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    now: datetime,
    meeting_id: int,
    action: ActionName,
) -> Response:
    form = await read_form(request, viewer)
    back = safe_next(form.get("back"), default=f"/meetings?tab={DEFAULT_TAB}")
    response = RedirectResponse(back, status_code=303)
    try:
        if meeting_id > MAX_ID:
            raise NotFound(f"Meeting {meeting_id} was not found.")
        if action in ("confirm", "accept") and form.get("ignore_calendar_conflicts") != "1":
            refusal = await _calendar_refusal(request, session, viewer, now, meeting_id, action)
            if refusal is not None:
                return refusal
        # The requester cancelling their own pending request withdraws it.
        before = await session.get(Meeting, meeting_id)
        withdrawn = (
            before is not None
            and before.requester_id == viewer.user.id
            and effective_status(before, int(now.timestamp())) == "pending"
        )
        # A savepoint: a refused change leaves nothing behind, and the request's
        # transaction (and the objects it loaded) stays usable.
        if action == "propose":
            body = validate_body(
                ProposeBody, {"date": form.get("date", "").strip(), "reason": form.get("reason")}
            )
            async with session.begin_nested():
                meeting = await service.propose_meeting_time(
                    session, meeting_id, viewer.user, body.date, body.reason, now
                )
        else:
            reason = validate_body(ReasonBody, {"reason": form.get("reason")}).reason
            async with session.begin_nested():
                meeting = await service.change_meeting(
                    session, meeting_id, viewer.user, action, now, reason
                )
    except ApiError as error:
        log.info("web.meeting.action_refused", extra={"meeting_id": meeting_id, "action": action})
        add_flash(request, response, Flash("error", _sentence(error.message)))
        return response
    view = (await meeting_views(session, [meeting], viewer, now))[0]
    done = _DONE[action]
    if action == "cancel" and withdrawn:
        done = N_("Withdrew your request to %(other)s for %(when)s. They will be told.")
    text = _(done, other=view.other_name, when=view.proposal_when or view.when)
    href, link_text = _AFTER[action]
    if action == "propose" and view.status == "confirmed":
        href, link_text = f"/meetings/{meeting.id}", N_("Open it")
    add_flash(request, response, Flash("success", text, href=href, link_text=_(link_text)))
    return response


def _action_route(action: ActionName) -> Callable[..., Awaitable[Response]]:
    async def route(
        request: Request, meeting_id: int, session: SessionDep, viewer: ViewerDep, now: Now
    ) -> Response:
        return await _act(request, session, viewer, now, meeting_id, action)

    route.__name__ = action
    return route


# One POST route per action the page offers (the buttons of `allowed_actions`).
PAGE_ACTIONS: tuple[ActionName, ...] = (
    "confirm",
    "reject",
    "cancel",
    "propose",
    "accept",
    "decline",
)
for _action in PAGE_ACTIONS:
    router.add_api_route(
        f"/meetings/{{meeting_id:int}}/{_action}", _action_route(_action), methods=["POST"]
    )


# Request a meeting ---------------------------------------------------------------------


def _sentence(message: str) -> str:
    """Service messages name the field first ("date is in the past"); start with a capital."""
    return message[:1].upper() + message[1:]


def _positive_id(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    # ASCII only: "²".isdigit() is true but int("²") raises (a 500 found by fuzzing).
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    number = int(text)
    return number if number > 0 else None


@dataclass(frozen=True)
class MemberChoice:
    id: int
    name: str
    zone_name: str
    offset: str  # on the date chosen in the form, else now
    on_date: str | None  # "Tue 10 Mar 2026": the date chosen, if any

    @property
    def label(self) -> str:
        offset = self.offset_on_date if self.on_date else self.offset
        return f"{self.name} \u2014 {self.zone_name} ({offset})"

    @property
    def offset_on_date(self) -> str:
        return _("%(offset)s on %(date)s", offset=self.offset, date=self.on_date)

    @property
    def offset_when(self) -> str:
        """`UTC−05:00 on Tue 10 Mar 2026`, or `UTC−04:00 now` before a date is chosen."""
        return self.offset_on_date if self.on_date else _("%(offset)s now", offset=self.offset)


def _chosen_moment(text: str) -> datetime | None:
    """The date the form was given (`datetime-local`, or ISO with an offset), if readable.

    Only to say which UTC offset the member's zone has then; the meeting's time itself is
    read by the service's rules.
    """
    try:
        return datetime.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


def _member_choice(member: User, chosen: datetime | None) -> MemberChoice:
    zone = resolve_zone(member.timezone)
    if chosen is not None:
        # A wall-clock time is read in the member's zone, as the form says it will be.
        try:
            moment = (
                chosen.replace(tzinfo=zone) if chosen.tzinfo is None else chosen.astimezone(zone)
            )
            offset = offset_label(moment.utcoffset())
            return MemberChoice(member.id, member.name, zone.key, offset, format_date(moment))
        except OverflowError:  # year 1 or 9999 moved across midnight: no such date here
            pass
    return MemberChoice(member.id, member.name, zone.key, zone_offset(zone), None)


async def _request_form(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    general_error: str | None = None,
    status_code: int = 200,
) -> Response:
    teams = [(team.id, team.name) for team, _role in await teams_of(session, viewer.user.id)]
    team_id = _positive_id(values.get("team_id"))
    if team_id is None and len(teams) == 1:
        team_id = teams[0][0]
    members: list[MemberChoice] = []
    chosen_moment = _chosen_moment(values.get("date", ""))
    if team_id is not None and team_id in {tid for tid, _ in teams}:
        for member, _role in await members_of(session, team_id, viewer.user):
            if member.id != viewer.user.id:
                members.append(_member_choice(member, chosen_moment))
    else:
        team_id = None
    member_id = _positive_id(values.get("user_id"))
    chosen = next((m for m in members if m.id == member_id), None)
    day = parse_day(values.get("day", ""))
    slots, calendar_note = None, None
    if team_id and chosen and day:
        now = await request_now(request)
        settings = app_settings(request)
        slots, calendar_note = await free_times(
            session, viewer.user, team_id, chosen.id, day, now, settings
        )
    context = {
        "title": _("Request a meeting") + " · meetbook",
        "nav": "new",
        "teams": teams,
        "team_id": team_id,
        "members": members,
        "chosen": chosen,
        "values": defaultdict(str, values),
        "errors": defaultdict(str, errors or {}),
        "general_error": general_error,
        "max_link": MAX_LINK_LENGTH,
        "max_title": MAX_TITLE_LENGTH,
        "max_notes": MAX_NOTES_LENGTH,
        "slots": slots,
        "calendar_note": calendar_note,
    }
    return render(request, "request.html", context, viewer=viewer, status_code=status_code)


@router.get("/meetings/new")
async def request_form(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    team: str | None = None,
    member: str | None = None,
    day: str | None = None,
    date: Annotated[str | None, Query(max_length=100)] = None,
    link: Annotated[str | None, Query(max_length=MAX_LINK_LENGTH)] = None,
    title: Annotated[str | None, Query(max_length=MAX_TITLE_LENGTH)] = None,
    notes: Annotated[str | None, Query(max_length=MAX_NOTES_LENGTH)] = None,
) -> Response:
    """Team → member → date and time in the member's zone → optional link, title and
    notes; with `day`, the member's free times that day, each a link that fills in `date`.
    Every field may come pre-filled (the expired-request email's "Request again" link);
    it is checked when the form is sent."""
    values = {
        "team_id": team or "",
        "user_id": member or "",
        "date": date or "",
        "link": link or "",
        "title": title or "",
        "notes": notes or "",
    }
    values["day"] = (day or "")[:10]
    return await _request_form(request, session, viewer, values)


_FIELDS = ("team_id", "user_id", "date", "link", "title", "notes")
_REQUIRED = {
    "team_id": N_("Choose a team."),
    "user_id": N_("Choose who to meet."),
    "date": N_("Enter the date and time of the meeting."),
}


def _field_errors(error: ApiError) -> tuple[dict[str, str], str | None]:
    """Put a service error next to the field it is about; the rest above the form."""
    if isinstance(error, Conflict):
        return {"date": _sentence(error.message)}, None
    fields: dict[str, str] = {}
    for detail in error.details or []:
        field = detail.get("field", "")
        if field in _FIELDS and field not in fields:
            fields[field] = _sentence(detail.get("message", error.message))
    if fields:
        return fields, None
    return {}, _sentence(error.message)


@router.post("/meetings/new")
async def request_meeting(
    request: Request, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    values = {name: form.get(name, "").strip() for name in _FIELDS}
    missing = {name: _(text) for name, text in _REQUIRED.items() if not values[name]}
    if missing:
        return await _request_form(
            request, session, viewer, values, errors=missing, status_code=400
        )
    data: dict[str, Any] = {
        **values,
        "link": values["link"] or None,
        "title": values["title"] or None,
        "notes": values["notes"] or None,
    }
    try:
        payload = validate_body(MeetingCreate, data)
        await throttle_create(request, viewer.user.id)
        async with session.begin_nested():
            meeting = await service.create_meeting(session, viewer.user, payload, now)
    except ApiError as error:
        errors, general = _field_errors(error)
        return await _request_form(
            request,
            session,
            viewer,
            values,
            errors=errors,
            general_error=general,
            status_code=error.status,
        )
    view = (await meeting_views(session, [meeting], viewer, now))[0]
    text = _(
        "Requested a meeting with %(name)s on %(when)s.", name=view.recipient_name, when=view.when
    )
    if view.recipient_when:
        text += " " + _("That is %(when)s for them.", when=view.recipient_when)
    if meeting.outside_working_hours:
        text += " " + _("That is outside their working hours.")
    log.info("web.meeting.requested", extra={"meeting_id": meeting.id})
    response = RedirectResponse("/meetings?tab=sent", status_code=303)
    add_flash(
        request,
        response,
        Flash("success", text, href=f"/meetings/{meeting.id}", link_text=_("Open it")),
    )
    return response
