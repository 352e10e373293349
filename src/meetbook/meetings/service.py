"""Meeting rules: create, confirm, reject, cancel, read. Services flush, never commit."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.availability.service import check_booking_policy, is_outside_working_hours
from meetbook.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from meetbook.meetings.booking import new_booking_number
from meetbook.meetings.schemas import MeetingCreate
from meetbook.meetings.statuses import STATUSES, TRANSITIONS, effective_status
from meetbook.meetings.timeparse import MeetingTimeError, parse_meeting_time, resolve_zone
from meetbook.models import (
    MEETING_SECONDS,
    BusySlot,
    IdempotencyKey,
    Meeting,
    Team,
    TeamMember,
    User,
)
from meetbook.notifications.outbox import enqueue

log = logging.getLogger("meetbook.meetings")

IDEMPOTENCY_TTL = timedelta(hours=24)
SLOT_TAKEN = "That time slot is taken: {who} already has a confirmed meeting overlapping it."


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


async def _is_member(session: AsyncSession, team_id: int, user_id: int) -> bool:
    found = await session.scalar(
        select(exists().where(TeamMember.team_id == team_id, TeamMember.user_id == user_id))
    )
    return bool(found)


async def _has_confirmed_overlap(
    session: AsyncSession, user_ids: list[int], start: int, end: int, *, exclude: int | None = None
) -> int | None:
    """The first of `user_ids` that has a busy slot overlapping [start, end), if any."""
    query = select(BusySlot.user_id).where(
        BusySlot.user_id.in_(user_ids),
        BusySlot.start_time < end,
        BusySlot.end_time > start,
        # Implied by the line above, as every slot lasts MEETING_SECONDS, but this form
        # bounds the (user_id, start_time) index range: without it the check read every
        # busy slot the user ever had (thousands for a busy person's history).
        BusySlot.start_time > start - MEETING_SECONDS,
    )
    if exclude is not None:
        query = query.where(BusySlot.meeting_id != exclude)
    return await session.scalar(query.limit(1))


async def create_meeting(
    session: AsyncSession, requester: User, payload: MeetingCreate, now: datetime
) -> Meeting:
    if payload.user_id == requester.id:
        raise BadRequest("You cannot request a meeting with yourself.")
    team = await session.get(Team, payload.team_id)
    if team is None:
        raise NotFound(f"Team {payload.team_id} does not exist.")
    recipient = await session.get(User, payload.user_id)
    if recipient is None:
        raise NotFound(f"User {payload.user_id} does not exist.")
    if not await _is_member(session, team.id, requester.id):
        raise Forbidden("You are not a member of this team.")
    if not await _is_member(session, team.id, recipient.id):
        raise Forbidden("The recipient is not a member of this team.")

    zone = resolve_zone(recipient.timezone)
    try:
        start = parse_meeting_time(payload.date, zone, now=now)
    except MeetingTimeError as error:
        raise BadRequest(str(error), details=[{"field": "date", "message": str(error)}]) from None
    check_booking_policy(team, start, now)
    start_ts = _ts(start)
    end_ts = start_ts + MEETING_SECONDS
    if await _has_confirmed_overlap(session, [recipient.id], start_ts, end_ts):
        raise Conflict(SLOT_TAKEN.format(who="the recipient"))

    meeting = Meeting(
        booking_number=new_booking_number(),
        requester_id=requester.id,
        recipient_id=recipient.id,
        team_id=team.id,
        timezone=zone.key,
        start_time=start_ts,
        end_time=end_ts,
        link=payload.link,
        outside_working_hours=is_outside_working_hours(recipient, start),
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(meeting)
    await session.flush()
    await enqueue(
        session, "meeting-created", meeting, recipient.id, context={"actor_id": requester.id}
    )
    log.info("meeting.created", extra={"meeting_id": meeting.id, "requester_id": requester.id})
    return meeting


async def meeting_for_participant(session: AsyncSession, meeting_id: int, user: User) -> Meeting:
    """The meeting if `user` takes part in it; otherwise 404, so existence is not revealed."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or user.id not in (meeting.requester_id, meeting.recipient_id):
        raise NotFound(f"Meeting {meeting_id} was not found.")
    return meeting


async def _transition(
    session: AsyncSession, meeting: Meeting, action: str, now: datetime, reason: str | None
) -> str:
    """Apply `action` with a compare-and-swap on the stored status; return the status left.

    Each UPDATE only matches while the status is still the one tried and the meeting has
    not started, so of two concurrent changes exactly one matches. The statuses the
    action may start from are tried one at a time, in the order the state machine moves
    (pending before confirmed): the UPDATE that matched says which status the change
    really left, even when a concurrent change committed after `meeting` was read
    (PostgreSQL re-checks the WHERE against the newest row). Statuses only move forward,
    so one that stopped matching one attempt is the next attempt's, or none's.
    """
    sources, target = TRANSITIONS[action]
    now_ts = _ts(now)
    current = effective_status(meeting, now_ts)
    if current not in sources:
        raise Conflict(f"The meeting is {current}, so it cannot be {target} now.")
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if action != "confirm":
        values["reason"] = reason
    for source in sorted(sources, key=STATUSES.index):
        result = await session.execute(
            update(Meeting)
            .where(
                Meeting.id == meeting.id,
                Meeting.status == source,
                Meeting.start_time > now_ts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            await session.refresh(meeting)
            return source
    await session.refresh(meeting)
    raise Conflict(
        f"The meeting is {effective_status(meeting, now_ts)}, so it cannot be {target} now."
    )


async def confirm_meeting(
    session: AsyncSession, meeting_id: int, user: User, now: datetime
) -> Meeting:
    meeting = await meeting_for_participant(session, meeting_id, user)
    if user.id != meeting.recipient_id:
        raise Forbidden("Only the recipient can confirm this meeting.")
    participants = [meeting.recipient_id, meeting.requester_id]
    busy = await _has_confirmed_overlap(
        session, participants, meeting.start_time, meeting.end_time, exclude=meeting.id
    )
    if busy is not None:
        who = "you" if busy == user.id else "the requester"
        raise Conflict(SLOT_TAKEN.format(who=who))
    await _transition(session, meeting, "confirm", now, None)
    # Inserted in user-id order: two confirms crossing the same pair of people (A asks B,
    # B asks A) then take their locks in one order and cannot deadlock.
    session.add_all(
        BusySlot(
            meeting_id=meeting.id,
            user_id=participant,
            start_time=meeting.start_time,
            end_time=meeting.end_time,
        )
        for participant in sorted(participants)
    )
    try:
        await session.flush()
    except IntegrityError:
        # PostgreSQL's exclusion constraint caught an overlap confirmed concurrently.
        raise Conflict(SLOT_TAKEN.format(who="a participant")) from None
    context = {"actor_id": user.id, "sequence": 0}
    await enqueue(session, "meeting-confirmed", meeting, meeting.requester_id, context=context)
    # The recipient gets the calendar invite too, by email only.
    await enqueue(
        session, "meeting-confirmed", meeting, meeting.recipient_id, context=context, push=False
    )
    log.info("meeting.confirmed", extra={"meeting_id": meeting.id})
    return meeting


async def reject_meeting(
    session: AsyncSession, meeting_id: int, user: User, now: datetime, reason: str | None
) -> Meeting:
    meeting = await meeting_for_participant(session, meeting_id, user)
    if user.id != meeting.recipient_id:
        raise Forbidden("Only the recipient can reject this meeting.")
    await _transition(session, meeting, "reject", now, reason)
    context = {"actor_id": user.id, "reason": reason}
    await enqueue(session, "meeting-rejected", meeting, meeting.requester_id, context=context)
    log.info("meeting.rejected", extra={"meeting_id": meeting.id})
    return meeting


async def cancel_meeting(
    session: AsyncSession, meeting_id: int, user: User, now: datetime, reason: str | None
) -> Meeting:
    meeting = await meeting_for_participant(session, meeting_id, user)
    # From the status the cancel really left, not the one read above: a confirm may have
    # committed in between, and then both calendars hold an invite to withdraw.
    was_confirmed = await _transition(session, meeting, "cancel", now, reason) == "confirmed"
    await session.execute(delete(BusySlot).where(BusySlot.meeting_id == meeting.id))
    other = meeting.recipient_id if user.id == meeting.requester_id else meeting.requester_id
    context = {"actor_id": user.id, "reason": reason, "was_confirmed": was_confirmed, "sequence": 1}
    await enqueue(session, "meeting-cancelled", meeting, other, context=context)
    if was_confirmed:
        # Both calendars hold the invite; both need the METHOD:CANCEL to remove it.
        await enqueue(session, "meeting-cancelled", meeting, user.id, context=context, push=False)
    log.info("meeting.cancelled", extra={"meeting_id": meeting.id, "by": user.id})
    return meeting


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
