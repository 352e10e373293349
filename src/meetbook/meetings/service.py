"""Meeting rules: create, change (through the state machine), read. Services never commit."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Exists, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.availability import calendar
from meetbook.availability.caldav_client import Busy
from meetbook.availability.service import check_booking_policy, is_outside_working_hours
from meetbook.config import Settings
from meetbook.db import open_session
from meetbook.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from meetbook.meetings import history, machine
from meetbook.meetings.booking import new_booking_number
from meetbook.meetings.schemas import MeetingCreate
from meetbook.meetings.timeparse import MeetingTimeError, parse_meeting_time, resolve_zone
from meetbook.models import (
    MEETING_SECONDS,
    IdempotencyKey,
    Meeting,
    MeetingHistory,
    Team,
    TeamMember,
    User,
)
from meetbook.notifications.content import MeetingInfo
from meetbook.notifications.events import publish
from meetbook.notifications.ics import EventStatus, build_invite

log = logging.getLogger("meetbook.meetings")

IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _is_member(team_id: int, user_id: int) -> Exists:
    return exists().where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)


async def _team_and_recipient(
    session: AsyncSession, team_id: int, requester_id: int, recipient_id: int
) -> tuple[Team, User]:
    """The team and the recipient, both checked members of it, in one statement.

    Refused in this order: no such team (404), no such user (404), the requester is not a
    member (403), the recipient is not (403).
    """
    found = (
        await session.execute(
            select(
                Team,
                User,
                _is_member(team_id, requester_id),
                _is_member(team_id, recipient_id),
            )
            .outerjoin(User, User.id == recipient_id)
            .where(Team.id == team_id)
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"Team {team_id} does not exist.")
    team, recipient, requester_is_member, recipient_is_member = found
    if recipient is None:
        raise NotFound(f"User {recipient_id} does not exist.")
    if not requester_is_member:
        raise Forbidden("You are not a member of this team.")
    if not recipient_is_member:
        raise Forbidden("The recipient is not a member of this team.")
    return team, recipient


async def create_meeting(
    session: AsyncSession, requester: User, payload: MeetingCreate, now: datetime
) -> Meeting:
    if payload.user_id == requester.id:
        raise BadRequest("You cannot request a meeting with yourself.")
    team, recipient = await _team_and_recipient(
        session, payload.team_id, requester.id, payload.user_id
    )

    zone = resolve_zone(recipient.timezone)
    try:
        start = parse_meeting_time(payload.date, zone, now=now)
    except MeetingTimeError as error:
        raise BadRequest(str(error), details=[{"field": "date", "message": str(error)}]) from None
    check_booking_policy(team, start, now)
    start_ts = _ts(start)
    end_ts = start_ts + MEETING_SECONDS
    taken = await machine.slot_conflict(
        session, {recipient.id: "the recipient"}, start_ts, end_ts, caller_id=requester.id
    )
    if taken is not None:
        raise Conflict(taken)

    meeting = Meeting(
        booking_number=new_booking_number(),
        requester_id=requester.id,
        recipient_id=recipient.id,
        team_id=team.id,
        timezone=zone.key,
        start_time=start_ts,
        end_time=end_ts,
        link=payload.link,
        title=payload.title,
        notes=payload.notes,
        outside_working_hours=is_outside_working_hours(recipient, start),
        status="pending",
        awaiting_user_id=recipient.id,
        sequence=0,
        created_at=now,
        updated_at=now,
    )
    session.add(meeting)
    await session.flush()
    history.record(
        session, meeting, action="created", actor_id=requester.id, from_status=None, at=now
    )
    context = {"actor_id": requester.id, "sequence": meeting.sequence}
    await publish(
        session, "meeting-created", meeting, actor_id=requester.id, context=context, invite=False
    )
    # after_change flushes these rows with its own: one INSERT per table for them all.
    await machine.after_change(session, meeting, None, now)
    log.info("meeting.created", extra={"meeting_id": meeting.id, "requester_id": requester.id})
    return meeting


async def meeting_for_participant(session: AsyncSession, meeting_id: int, user: User) -> Meeting:
    """The meeting if `user` takes part in it; otherwise 404, so existence is not revealed."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or user.id not in (meeting.requester_id, meeting.recipient_id):
        raise NotFound(f"Meeting {meeting_id} was not found.")
    return meeting


async def change_meeting(
    session: AsyncSession,
    meeting_id: int,
    user: User,
    action: machine.ActionName,
    now: datetime,
    reason: str | None = None,
) -> Meeting:
    """Take `action` on a meeting `user` takes part in, as the state machine allows."""
    meeting = await meeting_for_participant(session, meeting_id, user)
    await machine.apply_action(session, meeting, action, user.id, now, reason=reason)
    return meeting


CalendarCheck = tuple[async_sessionmaker[AsyncSession], Settings]


async def calendar_conflicts(
    meeting_id: int,
    user: User,
    action_name: machine.ActionName,
    now: datetime,
    check: CalendarCheck,
) -> list[Busy]:
    """The busy times of `user`'s linked calendar that an action would put them in a
    meeting over: the meeting's time for confirm, the proposed time for accept (none when
    the machine would refuse the action anyway).

    Reads in a read-only session of its own, before the request's session writes, so no
    write lock (SQLite) waits on the calendar server. A user with no linked calendar (the
    common case) costs that session's one lookup.
    """
    sessionmaker, settings = check
    async with open_session(sessionmaker, read_only=True) as reader:
        link = await calendar.get_link(reader, user.id)
        if link is None:
            return []
        meeting = await meeting_for_participant(reader, meeting_id, user)
        action = machine.ACTIONS[action_name]
        allowed = machine.refusal(action, meeting, user.id, int(now.timestamp())) is None
        start_time = meeting.start_time
        if action_name == "accept" and meeting.proposed_start is not None:
            start_time = meeting.proposed_start
    if not allowed:
        return []
    return await calendar.linked_conflicts(
        link, user, start_time, start_time + MEETING_SECONDS, settings
    )


async def _refuse_calendar_conflicts(
    meeting_id: int,
    user: User,
    action_name: machine.ActionName,
    now: datetime,
    check: CalendarCheck,
) -> None:
    """Refuse (409) an action over a busy time of the user's linked calendar."""
    conflicts = await calendar_conflicts(meeting_id, user, action_name, now, check)
    if conflicts:
        raise Conflict(calendar.conflict_message(conflicts, resolve_zone(user.timezone)))


async def confirm_meeting(
    session: AsyncSession,
    meeting_id: int,
    user: User,
    now: datetime,
    *,
    calendar_check: CalendarCheck | None = None,
) -> Meeting:
    """Confirm; with `calendar_check` (the app's sessionmaker and settings), first refuse
    (409) a time that overlaps a busy time of the confirming user's linked calendar."""
    if calendar_check is not None:
        await _refuse_calendar_conflicts(meeting_id, user, "confirm", now, calendar_check)
    return await change_meeting(session, meeting_id, user, "confirm", now)


async def accept_proposal(
    session: AsyncSession,
    meeting_id: int,
    user: User,
    now: datetime,
    *,
    calendar_check: CalendarCheck | None = None,
) -> Meeting:
    """Move a confirmed meeting to its proposed time; with `calendar_check`, first refuse
    (409) a proposed time over a busy time of the accepting user's linked calendar."""
    if calendar_check is not None:
        await _refuse_calendar_conflicts(meeting_id, user, "accept", now, calendar_check)
    return await change_meeting(session, meeting_id, user, "accept", now)


async def reject_meeting(
    session: AsyncSession, meeting_id: int, user: User, now: datetime, reason: str | None
) -> Meeting:
    return await change_meeting(session, meeting_id, user, "reject", now, reason)


async def cancel_meeting(
    session: AsyncSession, meeting_id: int, user: User, now: datetime, reason: str | None
) -> Meeting:
    return await change_meeting(session, meeting_id, user, "cancel", now, reason)


async def propose_time(
    session: AsyncSession,
    meeting: Meeting,
    user: User,
    date: str,
    reason: str | None,
    now: datetime,
) -> Meeting:
    """Propose another time for `meeting` (CONTRACT §1.6): the date rules of create, read
    in the meeting's zone; the state machine's `propose` row does the rest."""
    # The machine's own refusals first (status, start, who): a date problem is only
    # worth hearing about for a meeting that can still move.
    action = machine.ACTIONS["propose"]
    problem = machine.refusal(action, meeting, user.id, _ts(now))
    if problem is not None:
        raise problem
    try:
        start = parse_meeting_time(date, resolve_zone(meeting.timezone), now=now)
    except MeetingTimeError as error:
        raise BadRequest(str(error), details=[{"field": "date", "message": str(error)}]) from None
    team = await session.get(Team, meeting.team_id)
    if team is not None:
        check_booking_policy(team, start, now)
    start_ts = _ts(start)
    if start_ts == meeting.start_time or start_ts == meeting.proposed_start:
        message = "date is the meeting's current time; propose a different one."
        if start_ts != meeting.start_time:
            message = "date is already the proposed time; propose a different one."
        raise BadRequest(message, details=[{"field": "date", "message": message}])
    await machine.apply_action(
        session, meeting, "propose", user.id, now, reason=reason, new_start=start_ts
    )
    return meeting


async def propose_meeting_time(
    session: AsyncSession,
    meeting_id: int,
    user: User,
    date: str,
    reason: str | None,
    now: datetime,
) -> Meeting:
    meeting = await meeting_for_participant(session, meeting_id, user)
    return await propose_time(session, meeting, user, date, reason, now)


async def meeting_history(
    session: AsyncSession,
    meeting_id: int,
    user: User,
    now: datetime,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Sequence[MeetingHistory]:
    """The history of a meeting `user` takes part in, with the clock's latest change written.

    Read by GET requests, whose session must not write (db.py): the clock's change is
    written in a short transaction of its own, after the read transaction has ended, so
    the entries read next include it.
    """
    meeting = await meeting_for_participant(session, meeting_id, user)
    if machine.is_stale(meeting, now):
        await session.commit()
        async with sessionmaker() as writer, writer.begin():
            stored = await writer.get(Meeting, meeting.id)
            if stored is not None:
                await machine.materialise(writer, stored, now)
    return await history.entries(session, meeting.id)


async def meeting_ics(
    session: AsyncSession, meeting_id: int, user: User, now: datetime, *, domain: str, base_url: str
) -> bytes:
    """The meeting as a METHOD:PUBLISH calendar object, with the emailed invites' UID and
    SEQUENCE; its STATUS follows the meeting's (pending: TENTATIVE)."""
    meeting = await meeting_for_participant(session, meeting_id, user)
    status = machine.effective_status(meeting, _ts(now))
    requester = await session.get(User, meeting.requester_id)
    recipient = await session.get(User, meeting.recipient_id)
    assert requester is not None and recipient is not None  # foreign keys, ON DELETE CASCADE
    info = MeetingInfo.of(
        meeting,
        requester,
        recipient,
        reason=meeting.reason,
        was_confirmed=False,
        sequence=meeting.sequence,
    )
    event_status: EventStatus = "TENTATIVE" if status == "pending" else "CANCELLED"
    if status in machine.BOOKED:
        event_status = "CONFIRMED"
    return build_invite(
        info, method="PUBLISH", domain=domain, base_url=base_url, now=now, status=event_status
    )


# Idempotency-Key ---------------------------------------------------------------------


def request_fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(row: IdempotencyKey, fingerprint: str) -> StoredResponse:
    if row.request_hash != fingerprint:
        raise Unprocessable("This Idempotency-Key was already used with a different request body.")
    if row.status_code is None or row.response_body is None:
        raise Conflict("A request with this Idempotency-Key is still in progress; retry shortly.")
    return StoredResponse(row.status_code, json.loads(row.response_body))


async def claim_idempotency_key(
    session: AsyncSession, user_id: int, key: str, fingerprint: str, now: datetime
) -> StoredResponse | None:
    """Reserve `key` for this request, or return the response a previous one stored.

    The reservation is an INSERT in the request's transaction: a concurrent retry with
    the same key waits on it (PostgreSQL row lock; SQLite's serialized writes) and then
    finds the committed response, so one key never creates two meetings.
    """
    row = await session.get(IdempotencyKey, (user_id, key))
    if row is not None and row.created_at > now - IDEMPOTENCY_TTL:
        return _stored(row, fingerprint)
    if row is not None:
        await session.delete(row)
        await session.flush()
    try:
        async with session.begin_nested():
            session.add(
                IdempotencyKey(user_id=user_id, key=key, request_hash=fingerprint, created_at=now)
            )
    except IntegrityError:
        row = await session.get(IdempotencyKey, (user_id, key), populate_existing=True)
        if row is None:  # the other request rolled back in between; the caller may retry
            raise Conflict("A request with this Idempotency-Key is in progress; retry.") from None
        return _stored(row, fingerprint)
    return None


async def store_idempotent_response(
    session: AsyncSession, user_id: int, key: str, status_code: int, body: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status_code=status_code, response_body=json.dumps(body))
    )
