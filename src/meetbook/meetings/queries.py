"""Reading meetings: the Meeting object, the pending list and the filtered list."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import identity_key

from meetbook.errors import BadRequest
from meetbook.meetings.machine import awaited_user_id, effective_status, status_filter
from meetbook.meetings.statuses import Status
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import MEETING_SECONDS, Meeting, User

Order = Literal["asc", "desc"]
Role = Literal["requester", "recipient"]


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meeting_json(meeting: Meeting, now_ts: int, names: Mapping[int, str]) -> dict[str, object]:
    start = datetime.fromtimestamp(meeting.start_time, UTC)
    status = effective_status(meeting, now_ts)
    return {
        "id": meeting.id,
        "booking_number": meeting.booking_number,
        "client_id": meeting.recipient_id,
        "user_id": meeting.requester_id,
        "team_id": meeting.team_id,
        "timezone": meeting.timezone,
        "booking_date": start.strftime("%Y-%m-%d %H:%M:%S"),
        "start_time": meeting.start_time,
        "end_time": meeting.end_time,
        "link": meeting.link,
        "title": meeting.title,
        "notes": meeting.notes,
        "status": status,
        "created_at": _iso_z(meeting.created_at),
        "updated_at": _iso_z(meeting.updated_at),
        "reason": meeting.reason,
        "requester_name": names.get(meeting.requester_id),
        "client_name": names.get(meeting.recipient_id),
        "local_time": start.astimezone(resolve_zone(meeting.timezone)).isoformat(),
        "awaiting_user_id": awaited_user_id(meeting, status),
        "proposal": proposal_json(meeting, status),
        "sequence": meeting.sequence,
        "outside_working_hours": meeting.outside_working_hours,
    }


def proposal_json(meeting: Meeting, status: Status) -> dict[str, object] | None:
    """A confirmed meeting's proposal (CONTRACT §1.6), or None."""
    if status != "confirmed" or meeting.proposed_start is None:
        return None
    start = datetime.fromtimestamp(meeting.proposed_start, UTC)
    return {
        "start_time": meeting.proposed_start,
        "end_time": meeting.proposed_start + MEETING_SECONDS,
        "booking_date": start.strftime("%Y-%m-%d %H:%M:%S"),
        "proposed_by": meeting.proposed_by,
        "reason": meeting.proposal_reason,
        "created_at": _iso_z(meeting.proposed_at or meeting.updated_at),
    }


async def user_names(
    session: AsyncSession, meetings: Sequence[Meeting], known: Mapping[int, str] | None = None
) -> dict[int, str]:
    """The names of the meetings' participants, by user id.

    Names in `known` (the caller's: the viewer's own, a page's) and users this session
    already holds (a recipient a service just read) are not read again: a meeting shown
    to one of its participants then needs no query for that side.
    """
    names: dict[int, str] = {}
    missing: set[int] = set()
    known = known or {}
    for user_id in {m.requester_id for m in meetings} | {m.recipient_id for m in meetings}:
        if user_id in known:
            names[user_id] = known[user_id]
            continue
        held = session.identity_map.get(identity_key(User, user_id))
        # Only a loaded name: reading an expired one would query (and fail, in async).
        name = vars(held).get("name") if held is not None else None
        if name is not None:
            names[user_id] = name
        else:
            missing.add(user_id)
    if missing:
        rows = await session.execute(select(User.id, User.name).where(User.id.in_(missing)))
        names.update({user_id: name for user_id, name in rows})
    return names


async def meetings_json(
    session: AsyncSession,
    meetings: Sequence[Meeting],
    now: datetime,
    names: Mapping[int, str] | None = None,
) -> list[dict[str, object]]:
    """The meetings as the API shows them; `names` (user id -> name) saves reading the
    participants' names the caller has already (a `Page` read them with the meetings; a
    change's route knows its viewer's): only the others are read."""
    names = await user_names(session, meetings, names)
    now_ts = int(now.timestamp())
    return [meeting_json(m, now_ts, names) for m in meetings]


# Cursors -------------------------------------------------------------------------------


def encode_cursor(meeting: Meeting, order: Order) -> str:
    raw = json.dumps([meeting.start_time, meeting.id, order], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> tuple[int, int]:
    """Keyset position (start_time, id) after which the next page starts."""
    invalid = BadRequest("The cursor is not valid; use next_cursor from a previous page.")
    if len(cursor) > 200:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start, meeting_id, cursor_order = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise invalid from None
    if not (isinstance(start, int) and isinstance(meeting_id, int)) or cursor_order != order:
        raise invalid
    if isinstance(start, bool) or isinstance(meeting_id, bool):
        raise invalid
    # JSON integers have no size limit; past a BIGINT the database refuses the query
    # (a 500 on SQLite, a "database unavailable" 503 on PostgreSQL).
    if not (-(2**63) <= start < 2**63 and -(2**63) <= meeting_id < 2**63):
        raise invalid
    return start, meeting_id


# Filters -------------------------------------------------------------------------------

_UNIX_SECONDS = re.compile(r"-?\d{1,12}", re.ASCII)
_DIGITS = re.compile(r"-?\d+", re.ASCII)
# The offset at the end of an ISO 8601 date-time, for the range check fromisoformat
# skips: it reads "+05:60" as +06:00.
_ISO_OFFSET = re.compile(
    r"[+-](?P<hours>\d{2})(?::?(?P<minutes>\d{2})(?::?(?P<seconds>\d{2})(?:[.,]\d+)?)?)?$",
    re.ASCII,
)


def parse_bound(name: str, value: str | None) -> int | None:
    """A `from`/`to` filter as unix seconds: ISO 8601 (UTC unless it has an offset) or
    unix seconds; 400 naming the parameter otherwise."""
    if value is None or value == "":
        return None
    text = value.strip()
    invalid = BadRequest(
        f"{name} must be an ISO 8601 date-time (UTC unless it has an offset) or unix seconds."
    )
    if _UNIX_SECONDS.fullmatch(text):
        return int(text)
    if _DIGITS.fullmatch(text):
        # 13 digits and more: milliseconds, most likely; fromisoformat would read a date.
        raise invalid
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise invalid from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif (offset := _ISO_OFFSET.search(text)) and (
        int(offset.group("hours")) > 23
        or int(offset.group("minutes") or 0) > 59
        or int(offset.group("seconds") or 0) > 59
    ):
        raise BadRequest(
            f"{name} has an invalid UTC offset: hours go up to 23 and minutes up to 59."
        )
    try:
        return int(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        raise invalid from None


# Lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingFilter:
    statuses: tuple[Status, ...] = ()
    team_id: int | None = None
    role: Role | None = None
    start_from: int | None = None
    start_to: int | None = None
    order: Order = "asc"
    limit: int = 20
    after: tuple[int, int] | None = None


class Page(NamedTuple):
    """A page of meetings, their participants' names (read with them) and the cursor of
    the next page."""

    meetings: list[Meeting]
    names: dict[int, str]
    next_cursor: str | None


# The participants' names come with the meetings, as correlated subqueries: one statement
# for a page instead of two, and the meetings' part of the plan stays what it was.
_REQUESTER_NAME = (
    select(User.name)
    .where(User.id == Meeting.requester_id)
    .scalar_subquery()
    .label("requester_name")
)
_RECIPIENT_NAME = (
    select(User.name)
    .where(User.id == Meeting.recipient_id)
    .scalar_subquery()
    .label("recipient_name")
)
_WITH_NAMES = select(Meeting, _REQUESTER_NAME, _RECIPIENT_NAME)


async def _read_with_names(
    session: AsyncSession,
    query: Select[Any],
    names: dict[int, str],
    params: dict[str, object] | None = None,
) -> list[Meeting]:
    """Run a `_WITH_NAMES` query: its meetings, and their names added to `names`."""
    found = []
    for meeting, requester_name, recipient_name in await session.execute(query, params):
        names[meeting.requester_id] = requester_name
        names[meeting.recipient_id] = recipient_name
        found.append(meeting)
    return found


# Lists and pending run statements built once per shape of filter (which filters are
# given, the statuses, the order), every value a bound parameter: building a statement
# per request cost more CPU than running it (a list's UNION of subqueries most of all).
_STATEMENTS: dict[tuple[object, ...], Select[Any]] = {}
_MAX_STATEMENTS = 1_000
# In place of the ints they stand for: the conditions only compare with them.
_USER_ID: Any = bindparam("user_id", type_=Meeting.requester_id.type)
_NOW_TS: Any = bindparam("now_ts", type_=Meeting.start_time.type)


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


def _apply(query: Select[Any], f: MeetingFilter) -> Select[Any]:
    """`query` narrowed by the filters `f` gives, their values left as parameters
    (`_params`), in the page's order."""
    if f.statuses:
        query = query.where(or_(*(status_filter(s, _NOW_TS) for s in f.statuses)))
    if f.team_id is not None:
        query = query.where(Meeting.team_id == _param("team_id", Meeting.team_id))
    if f.start_from is not None:
        query = query.where(Meeting.start_time >= _param("start_from", Meeting.start_time))
    if f.start_to is not None:
        query = query.where(Meeting.start_time <= _param("start_to", Meeting.start_time))
    if f.after is not None:
        # A row-value comparison, not `start > s OR (start = s AND id > i)`: both
        # databases use it as a range on the (participant, start_time, id) index, so a
        # deep page starts where the cursor points. The OR form was only a filter, and a
        # page 90% down a 20,000-meeting history read 9,500 index entries to return 21.
        position = tuple_(Meeting.start_time, Meeting.id)
        after = tuple_(_param("after_start", Meeting.start_time), _param("after_id", Meeting.id))
        query = query.where(position > after if f.order == "asc" else position < after)
    query = query.limit(bindparam("limit", type_=Integer))
    if f.order == "asc":
        return query.order_by(Meeting.start_time.asc(), Meeting.id.asc())
    return query.order_by(Meeting.start_time.desc(), Meeting.id.desc())


def _params(user_id: int, f: MeetingFilter, now_ts: int) -> dict[str, object]:
    """The values of `_apply`'s parameters (the ones a statement has not are ignored)."""
    after_start, after_id = f.after or (None, None)
    return {
        "user_id": user_id,
        "now_ts": now_ts,
        "team_id": f.team_id,
        "start_from": f.start_from,
        "start_to": f.start_to,
        "after_start": after_start,
        "after_id": after_id,
        "limit": f.limit + 1,  # one more: whether there is a next page
    }


def _shape(kind: str, f: MeetingFilter) -> tuple[object, ...]:
    given = (f.team_id, f.start_from, f.start_to, f.after)
    return (kind, f.role, f.statuses, f.order, *(value is not None for value in given))


def _statement(shape: tuple[object, ...], build: Callable[[], Select[Any]]) -> Select[Any]:
    statement = _STATEMENTS.get(shape)
    if statement is None:
        if len(_STATEMENTS) >= _MAX_STATEMENTS:
            _STATEMENTS.clear()
        statement = _STATEMENTS[shape] = build()
    return statement


_ROLE_COLUMNS = {"requester": Meeting.requester_id, "recipient": Meeting.recipient_id}


def _list_statement(f: MeetingFilter) -> Select[Any]:
    roles: tuple[Role, ...] = (f.role,) if f.role else ("requester", "recipient")
    runs = [_apply(_WITH_NAMES.where(_ROLE_COLUMNS[role] == _USER_ID), f) for role in roles]
    if len(runs) == 1:
        return runs[0]
    # Both runs in one statement, each keeping its order and limit (in a subquery: SQLite
    # allows no LIMIT in a UNION's branch); rows come in no given order.
    both = union_all(*(run.subquery().select() for run in runs)).subquery()
    return select(aliased(Meeting, both), both.c.requester_name, both.c.recipient_name)


def _sort_key(meeting: Meeting) -> tuple[int, int]:
    return meeting.start_time, meeting.id


async def list_meetings(
    session: AsyncSession, user_id: int, f: MeetingFilter, now: datetime
) -> Page:
    """A keyset page of the user's meetings (either role).

    Each role is read through its own (participant, start_time, id) index and the two
    ordered runs are merged here, which keeps deep pages as cheap as the first. Both
    runs go in one statement (a UNION ALL of the two), one round trip.
    """
    query = _statement(_shape("list", f), lambda: _list_statement(f))
    names: dict[int, str] = {}
    params = _params(user_id, f, int(now.timestamp()))
    found = await _read_with_names(session, query, names, params)
    found.sort(key=_sort_key, reverse=f.order == "desc")
    page = found[: f.limit]
    next_cursor = encode_cursor(page[-1], f.order) if len(found) > f.limit else None
    return Page(page, names, next_cursor)


def awaiting_filter(user_id: int, now_ts: int) -> ColumnElement[bool]:
    """SQL condition for "awaits `user_id`'s answer": a pending request (or counter-
    proposal) for them, or a confirmed meeting's proposal to them, not yet started."""
    return and_(
        Meeting.awaiting_user_id == user_id,
        or_(
            status_filter("pending", now_ts),
            and_(
                status_filter("confirmed", now_ts),
                Meeting.proposed_start.is_not(None),
                Meeting.start_time > now_ts,
            ),
        ),
    )


_AWAITING_WITH_NAMES = _WITH_NAMES.where(awaiting_filter(_USER_ID, _NOW_TS))


async def awaiting_answer(
    session: AsyncSession,
    user_id: int,
    team_id: int | None,
    limit: int,
    after: tuple[int, int] | None,
    now: datetime,
) -> Page:
    """Meetings awaiting the user's answer (`awaiting_user_id`), soonest first."""
    f = MeetingFilter(team_id=team_id, limit=limit, after=after)
    query = _statement(_shape("pending", f), lambda: _apply(_AWAITING_WITH_NAMES, f))
    names: dict[int, str] = {}
    found = await _read_with_names(session, query, names, _params(user_id, f, int(now.timestamp())))
    page = found[:limit]
    next_cursor = encode_cursor(page[-1], "asc") if len(found) > limit else None
    return Page(page, names, next_cursor)


_PARTICIPANTS_MEETING = _WITH_NAMES.where(
    Meeting.id == _param("meeting_id", Meeting.id),
    or_(Meeting.requester_id == _USER_ID, Meeting.recipient_id == _USER_ID),
)


async def meeting_with_names(
    session: AsyncSession, meeting_id: int, user_id: int
) -> tuple[Meeting, dict[int, str]] | None:
    """A meeting `user_id` takes part in and its participants' names, in one statement;
    None if there is no such meeting or it is not theirs (the details route's 404)."""
    names: dict[int, str] = {}
    params: dict[str, object] = {"meeting_id": meeting_id, "user_id": user_id}
    found = await _read_with_names(session, _PARTICIPANTS_MEETING, names, params)
    return (found[0], names) if found else None
