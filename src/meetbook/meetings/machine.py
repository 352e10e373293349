"""The meeting state machine: one table of actions, and the one function that applies them.

Each row says who may take the action, from which statuses, under which time guard, to
which status, what it writes to the history, which event it publishes and whether it
changes the calendar invite. The API, its error messages, the page's buttons and the
clock-derived statuses (`expired`, `completed`) all read this table; a new action is a
new row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.availability.calendar import enqueue_calendar_sync
from meetbook.availability.service import is_outside_working_hours
from meetbook.errors import ApiError, Conflict, Forbidden
from meetbook.meetings import history, timed_notices
from meetbook.meetings.statuses import STATUSES, Status
from meetbook.models import MEETING_SECONDS, BusySlot, Meeting, User
from meetbook.notifications.content import Event
from meetbook.notifications.events import publish

log = logging.getLogger("meetbook.meetings")

ActionName = Literal[
    "confirm", "reject", "cancel", "expire", "complete", "propose", "accept", "decline"
]
HistoryAction = Literal[
    "created",
    "confirmed",
    "rejected",
    "cancelled",
    "expired",
    "completed",
    "proposed",
    "rescheduled",
    "proposal-declined",
]
# What an action does with a new time (CONTRACT §1.6). "propose": a pending meeting moves
# to the new time at once, a confirmed one holds it as its proposal; "accept": the
# meeting moves to its proposal; "drop": the proposal (if any) is dropped.
ProposalStep = Literal["propose", "accept", "drop"]
# Who may take an action: the participant whose answer is awaited, either participant,
# or nobody but the clock.
Who = Literal["awaited", "either", "clock"]

# A meeting in these statuses is in both calendars as an invite and holds a busy slot
# per participant (the overlap checks and PostgreSQL's exclusion constraint read those).
BOOKED: frozenset[Status] = frozenset({"confirmed", "completed"})

SLOT_TAKEN = "That time slot is taken: {who} already has a confirmed meeting overlapping it."
SLOT_TAKEN_BY_YOURS = (
    "That time slot is taken by your confirmed meeting {booking_number} ({when} UTC)."
)


@dataclass(frozen=True)
class Guard:
    """A condition on the clock, in Python (on a loaded meeting) and in SQL (for the CAS)."""

    holds: Callable[[Meeting, int], bool]
    clause: Callable[[int], ColumnElement[bool]]
    # Why the action is refused while the guard does not hold; {verb} is the action's.
    refusal: str
    # For the clock's own actions: the instant the guard began to hold.
    since: Callable[[Meeting], int] | None = None


BEFORE_START = Guard(
    holds=lambda m, now: now < m.start_time,
    clause=lambda now: Meeting.start_time > now,
    refusal="The meeting has started, so it can no longer be {verb}.",
)
STARTED = Guard(
    holds=lambda m, now: m.start_time <= now,
    clause=lambda now: Meeting.start_time <= now,
    refusal="The meeting has not started yet, so it cannot be {verb}.",
    since=lambda m: m.start_time,
)
ENDED = Guard(
    holds=lambda m, now: m.end_time <= now,
    clause=lambda now: Meeting.end_time <= now,
    refusal="The meeting has not ended yet, so it cannot be {verb}.",
    since=lambda m: m.end_time,
)


@dataclass(frozen=True)
class Action:
    name: ActionName
    # Statuses it may start from, in the order the machine moves (see STATUSES).
    sources: tuple[Status, ...]
    # The status it leaves; None: the status stays (a new time is proposed or accepted).
    target: Status | None
    who: Who
    guard: Guard
    history: HistoryAction
    event: Event | None
    # The past participle in messages: "it can no longer be {verb}".
    verb: str
    # The reason goes into the history row and the notification...
    keeps_reason: bool = False
    # ... and is shown as the meeting's own `reason` (rejected, cancelled).
    reason_on_meeting: bool = True
    proposal: ProposalStep | None = None
    # Only open while a confirmed meeting holds a proposal (accept, decline).
    needs_proposal: bool = False
    # Sources from which the change alters an invite already sent: SEQUENCE + 1, so
    # calendars apply it. (The first invite, at confirm, is SEQUENCE 0.)
    bumps_sequence_from: frozenset[Status] = field(default_factory=frozenset)
    # On the page: not offered when this other action is open to the same viewer.
    superseded_by: ActionName | None = None


ACTIONS: dict[ActionName, Action] = {
    action.name: action
    for action in (
        Action(
            name="confirm",
            sources=("pending",),
            target="confirmed",
            who="awaited",
            guard=BEFORE_START,
            history="confirmed",
            event="meeting-confirmed",
            verb="confirmed",
        ),
        Action(
            name="reject",
            sources=("pending",),
            target="rejected",
            who="awaited",
            guard=BEFORE_START,
            history="rejected",
            event="meeting-rejected",
            verb="rejected",
            keeps_reason=True,
        ),
        Action(
            name="accept",
            sources=("confirmed",),
            target=None,
            who="awaited",
            guard=BEFORE_START,
            history="rescheduled",
            event="meeting-rescheduled",
            verb="moved to another time",
            proposal="accept",
            needs_proposal=True,
            bumps_sequence_from=frozenset({"confirmed"}),
        ),
        Action(
            name="decline",
            sources=("confirmed",),
            target=None,
            who="awaited",
            guard=BEFORE_START,
            history="proposal-declined",
            event="meeting-proposal-declined",
            verb="answered",
            keeps_reason=True,
            reason_on_meeting=False,
            proposal="drop",
            needs_proposal=True,
        ),
        Action(
            name="propose",
            sources=("pending", "confirmed"),
            target=None,
            who="either",
            guard=BEFORE_START,
            history="proposed",
            event="meeting-proposed",
            verb="moved to another time",
            keeps_reason=True,
            reason_on_meeting=False,
            proposal="propose",
            # A pending meeting's time changes at once (its tentative entry in calendar
            # feeds and .ics files moves); a confirmed one's only when accepted.
            bumps_sequence_from=frozenset({"pending"}),
        ),
        Action(
            name="cancel",
            sources=("pending", "confirmed"),
            target="cancelled",
            who="either",
            guard=BEFORE_START,
            history="cancelled",
            event="meeting-cancelled",
            verb="cancelled",
            keeps_reason=True,
            proposal="drop",
            bumps_sequence_from=frozenset({"confirmed"}),
            # The awaited participant answers a request with Reject (the requester is
            # told it was rejected, with the reason); Cancel is for everyone else.
            superseded_by="reject",
        ),
        Action(
            name="expire",
            sources=("pending",),
            target="expired",
            who="clock",
            guard=STARTED,
            history="expired",
            event=None,
            verb="expired",
        ),
        Action(
            name="complete",
            sources=("confirmed",),
            target="completed",
            who="clock",
            guard=ENDED,
            history="completed",
            event=None,
            verb="completed",
        ),
    )
}
USER_ACTIONS = tuple(a for a in ACTIONS.values() if a.who != "clock")
CLOCK_ACTIONS = tuple(a for a in ACTIONS.values() if a.who == "clock")


# Reading: the status a reader sees, who is awaited, what a viewer may do ---------------


def effective_status(meeting: Meeting, now_ts: int) -> Status:
    """The status a reader sees: the clock's actions applied to the stored status.

    `pending` past its start is `expired` and `confirmed` past its end is `completed`,
    whatever the stored value still says (it is written when first observed).
    """
    overtaken = _clock_action(meeting, now_ts)
    status: Status = meeting.status  # type: ignore[assignment]
    return (overtaken.target or status) if overtaken else status


def _clock_action(meeting: Meeting, now_ts: int) -> Action | None:
    """The clock's action the stored status is due for, if any."""
    for action in CLOCK_ACTIONS:
        if meeting.status in action.sources and action.guard.holds(meeting, now_ts):
            return action
    return None


def _stored_in(statuses: tuple[Status, ...]) -> ColumnElement[bool]:
    # `=` for one status, as the indexes on status are used most simply that way.
    if len(statuses) == 1:
        return Meeting.status == statuses[0]
    return Meeting.status.in_(statuses)


def status_filter(status: Status, now_ts: int) -> ColumnElement[bool]:
    """SQL condition for "the effective status is `status`"."""
    overtaken = [a.guard.clause(now_ts) for a in CLOCK_ACTIONS if status in a.sources]
    stored = and_(Meeting.status == status, *(~clause for clause in overtaken))
    derived = [
        and_(_stored_in(a.sources), a.guard.clause(now_ts))
        for a in CLOCK_ACTIONS
        if a.target == status
    ]
    return or_(stored, *derived) if derived else stored


def stale_filter(now_ts: int) -> ColumnElement[bool]:
    """SQL condition for "the clock has overtaken the stored status"."""
    return or_(*(and_(_stored_in(a.sources), a.guard.clause(now_ts)) for a in CLOCK_ACTIONS))


def awaited_user_id(meeting: Meeting, status: Status) -> int | None:
    """The participant whose answer is awaited: the recipient of a pending request (or
    the other participant after a counter-proposal), or the one asked to accept a
    confirmed meeting's proposal; None otherwise."""
    if status == "pending":
        return meeting.awaiting_user_id or meeting.recipient_id
    if status == "confirmed" and meeting.proposed_start is not None:
        return meeting.awaiting_user_id
    return None


def other_participant(meeting: Meeting, user_id: int | None) -> int:
    return meeting.recipient_id if user_id == meeting.requester_id else meeting.requester_id


def refusal(action: Action, meeting: Meeting, actor_id: int | None, now_ts: int) -> ApiError | None:
    """Why `actor_id` may not take `action` now, or None when they may.

    Checked in this order, so the message names the first real obstacle: the status,
    then the clock, then who is asking. (Non-participants never get here: they get 404.)
    """
    # The clock acts on the stored status it overtakes; everyone else on what they see.
    status = meeting.status if action.who == "clock" else effective_status(meeting, now_ts)
    if status not in action.sources:
        return Conflict(f"The meeting is {status}, so it cannot be {action.verb}.")
    if not action.guard.holds(meeting, now_ts):
        return Conflict(action.guard.refusal.format(verb=action.verb))
    if action.needs_proposal and meeting.proposed_start is None:
        return Conflict("The meeting has no proposed new time to answer.")
    if action.who == "clock":
        if actor_id is not None:
            return Forbidden(f"Only the clock marks a meeting {action.verb}.")
    elif action.who == "awaited" and actor_id != awaited_user_id(meeting, status):
        return Forbidden("You are not the one whose answer is awaited.")
    return None


def allowed_actions(meeting: Meeting, viewer_id: int, now: datetime) -> tuple[ActionName, ...]:
    """The actions to offer `viewer_id` (a participant) on this meeting now."""
    now_ts = int(now.timestamp())
    open_ = {a.name for a in USER_ACTIONS if refusal(a, meeting, viewer_id, now_ts) is None}
    return tuple(
        a.name
        for a in USER_ACTIONS
        if a.name in open_ and (a.superseded_by is None or a.superseded_by not in open_)
    )


# Writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What `apply_action` did: the action, and the status it really left."""

    action: Action
    source: Status


async def slot_conflict(
    session: AsyncSession,
    roles: dict[int, str],
    start: int,
    end: int,
    *,
    caller_id: int | None,
    exclude_id: int | None = None,
) -> str | None:
    """Why [start, end) is taken for one of the users in `roles`, or None when it is free.

    `roles` names each user as the caller may hear of them ("the recipient"). A
    conflicting meeting the caller takes part in is named (booking number, UTC time);
    someone else's is not: the caller only learns that the other participant is busy.
    """
    query = (
        select(BusySlot.user_id, Meeting)
        .join(Meeting, Meeting.id == BusySlot.meeting_id)
        .where(
            BusySlot.user_id.in_(list(roles)),
            BusySlot.start_time < end,
            BusySlot.end_time > start,
            # Implied by the line above, as every slot lasts MEETING_SECONDS, but this
            # form bounds the (user_id, start_time) index range: without it the check
            # read every busy slot the user ever had.
            BusySlot.start_time > start - MEETING_SECONDS,
        )
        # One user's slots never overlap, so at most two of theirs touch one hour.
        .limit(2 * len(roles))
    )
    if exclude_id is not None:
        query = query.where(BusySlot.meeting_id != exclude_id)
    found = (await session.execute(query)).tuples().all()
    for _user_id, other in found:
        if caller_id in (other.requester_id, other.recipient_id):
            when = datetime.fromtimestamp(other.start_time, UTC).strftime("%Y-%m-%d %H:%M")
            return SLOT_TAKEN_BY_YOURS.format(booking_number=other.booking_number, when=when)
    return SLOT_TAKEN.format(who=roles[found[0][0]]) if found else None


async def apply_action(
    session: AsyncSession,
    meeting: Meeting,
    name: ActionName,
    actor_id: int | None,
    now: datetime,
    *,
    reason: str | None = None,
    new_start: int | None = None,
) -> Change:
    """Take action `name` on `meeting` for `actor_id` (None: the clock), or raise why not.

    `new_start` is the proposed time of `propose` (checked by the caller against the date
    rules; the overlap rules are checked here). In the caller's transaction: the guarded
    change, busy slots, the history row and the notifications commit together or not at
    all; `after_change` runs last.
    """
    action = ACTIONS[name]
    now_ts = int(now.timestamp())
    problem = refusal(action, meeting, actor_id, now_ts)
    if problem is not None:
        raise problem
    if action.proposal == "propose" and new_start is None:
        raise ValueError("propose needs new_start")
    participants = [meeting.requester_id, meeting.recipient_id]
    old_start, old_proposal = meeting.start_time, meeting.proposed_start
    # The time this change books, or moves a booking (or a request) to: it must be free
    # for both participants. (The database re-checks booked times under concurrency.)
    books = action.target in BOOKED and any(s not in BOOKED for s in action.sources)
    check_start: int | None = meeting.start_time if books else None
    if action.proposal == "propose":
        check_start = new_start
    elif action.proposal == "accept":
        assert meeting.proposed_start is not None  # refusal() checked needs_proposal
        if meeting.proposed_start <= now_ts:
            raise Conflict("The proposed time has passed, so it can no longer be accepted.")
        check_start = meeting.proposed_start
    if check_start is not None:
        roles = {meeting.requester_id: "the requester", meeting.recipient_id: "the recipient"}
        taken = await slot_conflict(
            session,
            roles,
            check_start,
            check_start + MEETING_SECONDS,
            caller_id=actor_id,
            exclude_id=meeting.id,
        )
        if taken is not None:
            raise Conflict(taken)
    at = now
    if action.guard.since is not None:
        # The clock's change happened when the guard began to hold, whenever it is seen.
        at = max(datetime.fromtimestamp(action.guard.since(meeting), UTC), meeting.updated_at)
    outside = None
    if check_start is not None and action.proposal in ("propose", "accept"):
        outside = await _outside_working_hours(session, meeting, check_start)
    step = _Step(actor_id, at, reason, new_start, outside)
    source = await _compare_and_swap(session, meeting, action, now_ts, step)
    change = Change(action, source)
    left = action.target or source

    if left in BOOKED and source not in BOOKED:
        await _lock_people(session, participants)
        # Inserted in user-id order: two confirms crossing the same pair of people (A
        # asks B, B asks A) then take their locks in one order and cannot deadlock.
        session.add_all(
            BusySlot(
                meeting_id=meeting.id,
                user_id=participant,
                start_time=meeting.start_time,
                end_time=meeting.end_time,
            )
            for participant in sorted(participants)
        )
        await _flush_slots(session)
    elif source in BOOKED and left not in BOOKED:
        await session.execute(delete(BusySlot).where(BusySlot.meeting_id == meeting.id))
    elif left in BOOKED and meeting.start_time != old_start:
        await _lock_people(session, participants)
        await _flush_slots(
            session,
            update(BusySlot)
            .where(BusySlot.meeting_id == meeting.id)
            .values(start_time=meeting.start_time, end_time=meeting.end_time),
        )

    history.record(
        session,
        meeting,
        action=action.history,
        actor_id=actor_id,
        from_status=source,
        at=at,
        reason=reason if action.keeps_reason else None,
    )
    if action.event is not None:
        # The worker reads these keys; `sequence` is the invite's after this change.
        context: dict[str, Any] = {
            "actor_id": actor_id,
            "reason": reason if action.keeps_reason else None,
            "was_confirmed": source in BOOKED,
            "sequence": meeting.sequence,
            **_times_context(action, meeting, old_start, old_proposal),
        }
        invite = (source in BOOKED) != (left in BOOKED)
        await publish(
            session, action.event, meeting, actor_id=actor_id, context=context, invite=invite
        )
        if invite or (left in BOOKED and meeting.start_time != old_start):
            # The invite went in or out of the participants' calendars, or moved: so does
            # the copy in their linked CalDAV calendars.
            await enqueue_calendar_sync(session, meeting)
    # after_change flushes these rows with its own: one INSERT per table for them all.
    await after_change(session, meeting, change, now)
    log.info(
        f"meeting.{action.history}",
        extra={"meeting_id": meeting.id, "by": actor_id, "from": source},
    )
    return change


async def after_change(
    session: AsyncSession, meeting: Meeting, change: Change | None, now: datetime
) -> None:
    """Runs in the transaction of every change of a meeting, after it (`change` None: the
    meeting was just created): the one place for work that follows a meeting's start
    time, status or awaited participant: reminders, the expiring nudge and the expired
    notice follow the meeting's new state. It flushes the session (the change's rows too)."""
    await timed_notices.sync_timed_notices(session, meeting, now, created=change is None)


async def _lock_people(session: AsyncSession, user_ids: list[int]) -> None:
    """PostgreSQL: hold each participant's transaction lock, in user-id order, before
    their busy slots are inserted.

    Two transactions inserting overlapping slots of the same person otherwise each put
    their index entry in, then each wait on the other's in the exclusion check: a
    deadlock, whose loser was refused though the winner could still fail (a refusal
    with no booked overlap). Under the lock the second waits for the first to end, then
    its check sees the first's slot only if it committed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: writes are serialized already (BEGIN IMMEDIATE)
    first, second = sorted(user_ids)
    await session.execute(
        select(func.pg_advisory_xact_lock(first), func.pg_advisory_xact_lock(second))
    )


async def _flush_slots(session: AsyncSession, statement: Any = None) -> None:
    try:
        if statement is not None:
            await session.execute(statement.execution_options(synchronize_session=False))
        await session.flush()
    except IntegrityError:
        # PostgreSQL's exclusion constraint caught an overlap booked concurrently.
        raise Conflict(SLOT_TAKEN.format(who="a participant")) from None
    except DBAPIError as error:
        # Two transactions booking overlapping slots of the same people wait on each
        # other's exclusion-constraint check; PostgreSQL ends one of them as a deadlock.
        # It waits only on an overlapping slot, so for the loser the slot is taken.
        if _sqlstate(error) == DEADLOCK_DETECTED:
            raise Conflict(SLOT_TAKEN.format(who="a participant")) from None
        raise


DEADLOCK_DETECTED = "40P01"


def _sqlstate(error: DBAPIError) -> str | None:
    for cause in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if code:
            return str(code)
    return None


async def _outside_working_hours(session: AsyncSession, meeting: Meeting, start: int) -> bool:
    recipient = await session.get(User, meeting.recipient_id)
    assert recipient is not None  # foreign key, ON DELETE CASCADE
    return is_outside_working_hours(recipient, datetime.fromtimestamp(start, UTC))


def _times_context(
    action: Action, meeting: Meeting, old_start: int, old_proposal: int | None
) -> dict[str, Any]:
    """The times a proposal's notification is about, as they were at the change: the
    worker renders them, not the meeting's times when it sends."""
    if action.name == "propose":
        if meeting.proposed_start is not None:  # a confirmed meeting's proposal
            return {"start_time": meeting.proposed_start, "previous_start": meeting.start_time}
        return {"start_time": meeting.start_time, "previous_start": old_start}
    if action.name == "accept":
        return {"start_time": meeting.start_time, "previous_start": old_start}
    if action.name == "decline":
        return {"start_time": meeting.start_time, "proposed_start": old_proposal}
    return {}


@dataclass(frozen=True)
class _Step:
    """Who takes an action, when, and what they give with it."""

    actor_id: int | None
    at: datetime
    reason: str | None
    new_start: int | None
    outside_working_hours: bool | None


def _moved_to(start: int, outside: bool | None) -> dict[str, Any]:
    values: dict[str, Any] = {"start_time": start, "end_time": start + MEETING_SECONDS}
    if outside is not None:
        values["outside_working_hours"] = outside
    return values


_NO_PROPOSAL: dict[str, Any] = {
    "proposed_start": None,
    "proposed_by": None,
    "proposal_reason": None,
    "proposed_at": None,
}


def _values(action: Action, meeting: Meeting, source: Status, step: _Step) -> dict[str, Any]:
    """The columns `action` writes when it leaves `source`."""
    values: dict[str, Any] = {"updated_at": step.at}
    if action.target is not None:
        values["status"] = action.target
    if action.keeps_reason and action.reason_on_meeting:
        values["reason"] = step.reason
    if source in action.bumps_sequence_from:
        values["sequence"] = Meeting.sequence + 1
    other = other_participant(meeting, step.actor_id)
    if action.proposal == "propose" and source == "pending":
        assert step.new_start is not None
        # A request moves at once; now the other participant answers it.
        values |= _moved_to(step.new_start, step.outside_working_hours)
        values |= {**_NO_PROPOSAL, "awaiting_user_id": other}
    elif action.proposal == "propose":
        values |= {
            "proposed_start": step.new_start,
            "proposed_by": step.actor_id,
            "proposal_reason": step.reason,
            "proposed_at": step.at,
            "awaiting_user_id": other,
        }
    elif action.proposal == "accept":
        assert meeting.proposed_start is not None
        values |= _moved_to(meeting.proposed_start, step.outside_working_hours)
        values |= {**_NO_PROPOSAL, "awaiting_user_id": None}
    else:
        # Every other change ends whatever answer was awaited (drops a proposal).
        values |= {**_NO_PROPOSAL, "awaiting_user_id": None}
    return values


async def _compare_and_swap(
    session: AsyncSession, meeting: Meeting, action: Action, now_ts: int, step: _Step
) -> Status:
    """Apply `action` with a compare-and-swap on the stored status; return the status left.

    Each UPDATE only matches while the status is still the one tried and the time guard
    still holds, so of two concurrent changes exactly one matches. The statuses the
    action may start from are tried one at a time, in the order the state machine moves
    (pending before confirmed): the UPDATE that matched says which status the change
    really left, even when a concurrent change committed after `meeting` was read
    (PostgreSQL re-checks the WHERE against the newest row). Statuses only move forward,
    so one that stopped matching one attempt is the next attempt's, or none's.

    A person's change also requires the meeting's time and proposal to be the ones they
    acted on (its `sequence` and `proposed_start` unchanged): a request moved, a meeting
    rescheduled or a proposal replaced meanwhile refuses the change rather than apply
    it to a time its author never saw.
    """
    seen = []
    if action.who != "clock":
        seen = [
            Meeting.sequence == meeting.sequence,
            Meeting.proposed_start.is_not_distinct_from(meeting.proposed_start),
        ]
    sources = sorted(action.sources, key=STATUSES.index)
    if action.proposal == "propose":
        # Moving a request and proposing a confirmed meeting's new time differ: only the
        # one its author saw.
        sources = [s for s in sources if s == meeting.status]
    for source in sources:
        # RETURNING the row puts what was written into `meeting` (the identity map's
        # object, populate_existing) in the same round trip: no refresh SELECT after it.
        changed = await session.scalar(
            update(Meeting)
            .where(
                Meeting.id == meeting.id,
                Meeting.status == source,
                action.guard.clause(now_ts),
                *seen,
            )
            .values(**_values(action, meeting, source, step))
            .returning(Meeting)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if changed is not None:
            return source
    await session.refresh(meeting)
    # A concurrent change won: say why from the meeting as it is now.
    problem = refusal(action, meeting, step.actor_id, now_ts)
    raise problem or Conflict(f"The meeting changed meanwhile, so it was not {action.verb}.")


def is_stale(meeting: Meeting, now: datetime) -> bool:
    """Whether the clock has moved `meeting` on (expired, completed) past its stored status."""
    return _clock_action(meeting, int(now.timestamp())) is not None


async def materialise(session: AsyncSession, meeting: Meeting, now: datetime) -> Change | None:
    """Write the clock's status of `meeting` (with its history row) if the stored one is stale."""
    action = _clock_action(meeting, int(now.timestamp()))
    if action is None:
        return None
    try:
        return await apply_action(session, meeting, action.name, None, now)
    except Conflict:
        return None  # a concurrent request wrote it first


async def materialise_clock_statuses(session: AsyncSession, now: datetime, limit: int) -> int:
    """Write up to `limit` stale clock statuses (expired, completed); return how many.

    For a periodic job: reads never write, so without it a meeting nobody looks at keeps
    its stored `pending`/`confirmed` (reads still show the right status).
    """
    now_ts = int(now.timestamp())
    query = (
        select(Meeting)
        # Implied by every clock guard; bounds the (status, start_time) index range.
        .where(Meeting.start_time <= now_ts, stale_filter(now_ts))
        .order_by(Meeting.start_time)
        .limit(limit)
    )
    done = 0
    for meeting in (await session.scalars(query)).all():
        if await materialise(session, meeting, now) is not None:
            done += 1
    return done
