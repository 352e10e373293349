"""The meeting routes of /api/v3 (CONTRACT §1.1–1.3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from meetbook.auth.deps import CurrentUser, throttle
from meetbook.clock import Now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import BadRequest, NotFound
from meetbook.meetings import history, queries, service
from meetbook.meetings.schemas import (
    AcceptBody,
    ConfirmBody,
    MeetingCreate,
    MeetingHistoryPage,
    MeetingOut,
    MeetingPage,
    ProposeBody,
    ReasonBody,
)
from meetbook.meetings.statuses import STATUSES, Status
from meetbook.models import User
from meetbook.params import IdPath

router = APIRouter(prefix="/api/v3/meeting", tags=["meetings"])

_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 1},
}
# Every status a route of /api/v3 can answer with, each in the error envelope. Routes
# pass this whole dict (or a subset that always keeps 500 and 503, which any route can
# return when the database or the code fails).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": _ERROR_CONTENT}
    for status, text in {
        400: "Invalid input",
        401: "Missing or invalid token",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Idempotency-Key reused with another body",
        429: "Too many requests",
        500: "Unexpected server error; nothing was changed",
        503: "Database unavailable; try again shortly",
    }.items()
}
ERRORS[401]["headers"] = {
    "WWW-Authenticate": {
        "description": "Always `Bearer`.",
        "required": True,
        "schema": {"type": "string"},
    }
}
ERRORS[429]["headers"] = {"Retry-After": {**_RETRY_AFTER, "required": True}}
ERRORS[503]["headers"] = {"Retry-After": _RETRY_AFTER}


async def throttle_create(request: Request, requester_id: int) -> None:
    """The per-requester limit on new meeting requests (`MEETBOOK_RATE_LIMIT_CREATE`), 429.

    Counted only for requests that would create (an idempotent replay is not), from the
    API and the web form alike.
    """
    settings: Settings = request.app.state.settings
    await throttle(request, settings.rate_limit_create, "meeting-create", str(requester_id))


def _idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not 1 <= len(value) <= 255 or not value.isprintable() or not value.isascii():
        raise BadRequest("Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return value


@router.post("/create", status_code=201, response_model=MeetingOut, responses=ERRORS)
async def create_meeting(
    payload: MeetingCreate,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes a retry safe: the same key and body within 24 hours "
            "return the first response again.",
            # Documented here, checked by _idempotency_key with the contract's message.
            json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
        ),
    ] = None,
) -> JSONResponse:
    """Create a meeting request with another member of a team; the recipient is notified."""
    key = _idempotency_key(idempotency_key)
    if key is not None:
        # The body as read (ids as numbers, a null link left out): spelling the same
        # request differently is still the same request.
        fingerprint = service.request_fingerprint(payload.model_dump(exclude_none=True))
        stored = await service.claim_idempotency_key(session, user.id, key, fingerprint, now)
        if stored is not None:
            return _created(stored.status_code, stored.body)
    await throttle_create(request, user.id)
    meeting = await service.create_meeting(session, user, payload, now)
    body = await _one(session, meeting, now, user)
    if key is not None:
        await service.store_idempotent_response(session, user.id, key, 201, body)
    return _created(201, body)


def _created(status_code: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        body, status_code=status_code, headers={"Location": f"/api/v3/meeting/{body['id']}"}
    )


def _parse_statuses(value: str | None) -> tuple[Status, ...]:
    # Spaces only, as documented by _STATUS_LIST: "pending\t" is not a status.
    names = [part.strip(" ") for part in (value or "").split(",") if part.strip(" ")]
    unknown = [name for name in names if name not in STATUSES]
    if unknown:
        raise BadRequest(f"Unknown status {unknown[0][:40]!r}; use any of {', '.join(STATUSES)}.")
    return tuple(cast(Status, name) for name in dict.fromkeys(names))


def _cursor(value: str | None, order: str) -> tuple[int, int] | None:
    return queries.decode_cursor(value, order) if value else None  # type: ignore[arg-type]


Limit = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
Cursor = Annotated[
    str | None,
    Query(max_length=200, description="Opaque: the next_cursor of the previous page."),
]
# Documents what _parse_statuses accepts: known names separated by commas and spaces.
_STATUS_LIST = rf"^[ ,]*(({'|'.join(STATUSES)})[ ,]*)*$"


async def _page_json(session: SessionDep, page: queries.Page, now: datetime) -> dict[str, Any]:
    # The names were read with the page.
    data = await queries.meetings_json(session, page.meetings, now, page.names)
    return {"data": data, "next_cursor": page.next_cursor}


@router.get("/pending", response_model=MeetingPage, responses=ERRORS)
async def pending_meetings(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    team_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Meetings waiting for your answer (requests, counter-proposals, proposed new times),
    soonest first."""
    page = await queries.awaiting_answer(
        session, user.id, team_id, limit, _cursor(cursor, "asc"), now
    )
    return await _page_json(session, page, now)


@router.get("/list", response_model=MeetingPage, responses=ERRORS)
async def list_meetings(
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    status: Annotated[
        str | None,
        Query(
            max_length=200,
            description=f"Comma-separated statuses, any of: {', '.join(STATUSES)}.",
            json_schema_extra={"pattern": _STATUS_LIST},
        ),
    ] = None,
    team_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    role: Annotated[
        str | None,
        Query(
            max_length=20,
            description="Only meetings you requested, or only those you received.",
            json_schema_extra={"enum": ["requester", "recipient"]},
        ),
    ] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[
        str,
        Query(
            max_length=10,
            description="By start time.",
            json_schema_extra={"enum": ["asc", "desc"]},
        ),
    ] = "asc",
    limit: Limit = 20,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Meetings you requested or received, filtered and paginated by start time."""
    if role not in (None, "", "requester", "recipient"):
        raise BadRequest("role must be requester or recipient.")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc.")
    f = queries.MeetingFilter(
        statuses=_parse_statuses(status),
        team_id=team_id,
        role=role or None,  # type: ignore[arg-type]
        start_from=queries.parse_bound("from", from_),
        start_to=queries.parse_bound("to", to),
        order=order,  # type: ignore[arg-type]
        limit=limit,
        after=_cursor(cursor, order),
    )
    page = await queries.list_meetings(session, user.id, f, now)
    return await _page_json(session, page, now)


async def _one(session: SessionDep, meeting: Any, now: datetime, viewer: User) -> dict[str, Any]:
    """The meeting as the API shows it to `viewer`, a participant (whose name is known)."""
    return (await queries.meetings_json(session, [meeting], now, {viewer.id: viewer.name}))[0]


@router.get("/{meeting_id:id}", response_model=MeetingOut, responses=ERRORS)
async def meeting_details(
    meeting_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """One meeting you take part in."""
    found = await queries.meeting_with_names(session, meeting_id, user.id)
    if found is None:  # as service.meeting_for_participant: existence is not revealed
        raise NotFound(f"Meeting {meeting_id} was not found.")
    meeting, names = found
    return (await queries.meetings_json(session, [meeting], now, names))[0]


@router.post("/{meeting_id:id}/confirm", response_model=MeetingOut, responses=ERRORS)
async def confirm_meeting(
    meeting_id: IdPath,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: ConfirmBody | None = None,
) -> dict[str, Any]:
    """Accept a pending request (recipient only); both calendars get an invite. A time
    that overlaps a busy time of your linked calendar is refused (409) unless the body
    says `{"ignore_calendar_conflicts": true}`."""
    ignore = body is not None and body.ignore_calendar_conflicts
    state = request.app.state
    check = None if ignore else (state.sessionmaker, state.settings)
    meeting = await service.confirm_meeting(session, meeting_id, user, now, calendar_check=check)
    return await _one(session, meeting, now, user)


# Both bodies are optional: no body (or `null`) is no reason.
OptionalReason = ReasonBody | None


@router.post("/{meeting_id:id}/reject", response_model=MeetingOut, responses=ERRORS)
async def reject_meeting(
    meeting_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: OptionalReason = None,
) -> dict[str, Any]:
    """Decline a pending request (recipient only), optionally with a reason."""
    reason = body.reason if body else None
    meeting = await service.reject_meeting(session, meeting_id, user, now, reason)
    return await _one(session, meeting, now, user)


@router.post("/{meeting_id:id}/cancel", response_model=MeetingOut, responses=ERRORS)
async def cancel_meeting(
    meeting_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: OptionalReason = None,
) -> dict[str, Any]:
    """Cancel a pending or confirmed meeting before it starts (either participant)."""
    reason = body.reason if body else None
    meeting = await service.cancel_meeting(session, meeting_id, user, now, reason)
    return await _one(session, meeting, now, user)


@router.post("/{meeting_id:id}/propose", response_model=MeetingOut, responses=ERRORS)
async def propose_meeting_time(
    meeting_id: IdPath, payload: ProposeBody, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """Propose another time (either participant). A pending request moves at once and
    awaits the other participant; a confirmed meeting keeps its time and holds the
    proposal until the other participant accepts or declines it."""
    meeting = await service.propose_meeting_time(
        session, meeting_id, user, payload.date, payload.reason, now
    )
    return await _one(session, meeting, now, user)


@router.post("/{meeting_id:id}/proposal/accept", response_model=MeetingOut, responses=ERRORS)
async def accept_proposal(
    meeting_id: IdPath,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: AcceptBody | None = None,
) -> dict[str, Any]:
    """Move a confirmed meeting to its proposed time (the participant asked); both
    calendars get the updated invite. A proposed time that overlaps a busy time of your
    linked calendar is refused (409) unless the body says
    `{"ignore_calendar_conflicts": true}`."""
    ignore = body is not None and body.ignore_calendar_conflicts
    state = request.app.state
    check = None if ignore else (state.sessionmaker, state.settings)
    meeting = await service.accept_proposal(session, meeting_id, user, now, calendar_check=check)
    return await _one(session, meeting, now, user)


@router.post("/{meeting_id:id}/proposal/decline", response_model=MeetingOut, responses=ERRORS)
async def decline_proposal(
    meeting_id: IdPath,
    session: SessionDep,
    user: CurrentUser,
    now: Now,
    body: OptionalReason = None,
) -> dict[str, Any]:
    """Keep a confirmed meeting at its time and drop the proposal (the participant asked),
    optionally with a reason."""
    reason = body.reason if body else None
    meeting = await service.change_meeting(session, meeting_id, user, "decline", now, reason)
    return await _one(session, meeting, now, user)


@router.get("/{meeting_id:id}/history", response_model=MeetingHistoryPage, responses=ERRORS)
async def meeting_history(
    meeting_id: IdPath, request: Request, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """Every change of a meeting you take part in, oldest first (the clock's included)."""
    rows = await service.meeting_history(
        session, meeting_id, user, now, sessionmaker=request.app.state.sessionmaker
    )
    return {"data": [history.entry_json(row) for row in rows]}


@router.get(
    "/{meeting_id:id}/ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {"schema": {"type": "string"}}}}, **ERRORS},
)
async def meeting_ics(
    meeting_id: IdPath, request: Request, session: SessionDep, user: CurrentUser, now: Now
) -> Response:
    """A meeting you take part in as an iCalendar object (METHOD:PUBLISH, the invites' UID)."""
    settings: Settings = request.app.state.settings
    body = await service.meeting_ics(
        session, meeting_id, user, now, domain=settings.mail_domain, base_url=settings.base_url
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.ics"'},
    )
