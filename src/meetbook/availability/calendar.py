"""A user's linked CalDAV calendar (CONTRACT §1.7): linking it, its busy times for free
slots, the conflict check of a confirm, and writing confirmed meetings into it.

The `caldav` library is synchronous: each exchange runs in a thread under a deadline, so
a slow or dead server costs a request at most that long (free slots: 5 s, a confirm's
check: 3 s, then it proceeds without it). Busy times are cached in-process for 60 s per
(user, range); a failure for 15 s, so a server that is down is not asked on every page.

Writing through goes by the outbox (`enqueue_calendar_sync`): a `caldav` channel row per
participant who has a calendar linked, delivered by the worker (`write_through`), which
puts the meeting's current state there — a PUT by UID while it is confirmed, a DELETE
otherwise — so a retried or repeated row does no harm, and rows are retried like email.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.availability import caldav_client
from meetbook.availability.caldav_client import Account, Busy, CalendarUnavailable
from meetbook.availability.encryption import CannotDecrypt, decrypt_password, encrypt_password
from meetbook.availability.schemas import LinkedCalendarIn
from meetbook.config import Settings
from meetbook.db import open_session
from meetbook.errors import BadRequest, Conflict
from meetbook.models import LinkedCalendar, Meeting, Notification, User, utcnow
from meetbook.notifications.content import MeetingInfo, one_line
from meetbook.notifications.errors import PermanentDeliveryError, TemporaryDeliveryError
from meetbook.notifications.ics import build_invite, invite_uid
from meetbook.notifications.outbox import OUTBOX_WRITTEN
from meetbook.notifications.scheduled import cancel_scheduled
from meetbook.outbound import OutboundRefused, check_public_url, resolve_public_url
from meetbook.text import clean_line
from meetbook.timeformat import format_range

log = logging.getLogger("meetbook.calendar")

CHANNEL = "caldav"
SYNC_EVENT = "calendar-sync"
SAVE_TIMEOUT_SECONDS = 15.0
READ_TIMEOUT_SECONDS = 5.0
CONFIRM_TIMEOUT_SECONDS = 3.0
WRITE_TIMEOUT_SECONDS = 30.0
CACHE_SECONDS = 60.0
FAILURE_CACHE_SECONDS = 15.0

T = TypeVar("T")
Status = Literal["not_linked", "ok", "unavailable"]


@dataclass(frozen=True)
class CalendarRead:
    """What free slots learnt from the calendar: its busy times, or why it could not."""

    status: Status
    busy: tuple[Busy, ...] = ()
    message: str | None = None
    # Why it could not be read (the server's words), for a page to say in its language.
    reason: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"status": self.status, "message": self.message}


async def _in_thread(timeout: float, function: Callable[..., T], *args: object, **kw: object) -> T:
    """Run a blocking CalDAV exchange in a thread; CalendarUnavailable after `timeout`.

    The thread itself cannot be stopped: it ends by the library's own per-request timeout.
    """
    try:
        return await asyncio.wait_for(asyncio.to_thread(function, *args, **kw), timeout)
    except TimeoutError:
        raise CalendarUnavailable("the server did not answer in time", temporary=True) from None


# Linking -----------------------------------------------------------------------------------


async def get_link(session: AsyncSession, user_id: int) -> LinkedCalendar | None:
    return await session.get(LinkedCalendar, user_id)


def link_json(link: LinkedCalendar) -> dict[str, str]:
    """The link as shown to its owner: never the password."""
    return {
        "url": link.url,
        "username": link.username,
        "linked_at": link.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


async def _checked_url(url: str, settings: Settings) -> str:
    allow = settings.allow_private_targets
    try:
        check_public_url(url, allow_private=allow)
        await resolve_public_url(url, allow_private=allow)
    except OutboundRefused as refused:
        message = f"url: this calendar address cannot be used: {refused.reason}."
        raise BadRequest(message, details=[{"field": "url", "message": message}]) from None
    return url


async def read_new_calendar(body: LinkedCalendarIn, settings: Settings, now: datetime) -> Account:
    """The account of a calendar to link, after reading it once; 400 with the reason.

    Touches no database: call it before the request's session writes (on SQLite that
    holds the one write lock, which must not wait for a calendar server).
    """
    url = await _checked_url(body.url.strip(), settings)
    username = clean_line(body.username, "username", 255, required=False)
    account = Account(url, username, body.password)
    try:
        await _in_thread(SAVE_TIMEOUT_SECONDS, caldav_client.probe, account, now)
    except CalendarUnavailable as problem:
        raise BadRequest(f"The calendar could not be read: {problem.reason}.") from None
    return account


async def link_calendar(
    session: AsyncSession, user: User, account: Account, settings: Settings, now: datetime
) -> LinkedCalendar:
    """Link (or replace) the user's calendar with an account `read_new_calendar` read."""
    link = await get_link(session, user.id)
    if link is None:
        link = LinkedCalendar(user_id=user.id)
        session.add(link)
    link.url = account.url
    link.username = account.username
    link.password_encrypted = encrypt_password(settings.resolved_secret_key(), account.password)
    link.created_at = now
    await session.flush()
    forget_busy_times(user.id)
    _note_outcome(user.id, None)
    log.info("calendar.linked", extra={"user_id": user.id})
    return link


async def unlink_calendar(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(LinkedCalendar).where(LinkedCalendar.user_id == user_id))
    forget_busy_times(user_id)
    _last_outcome.pop(user_id, None)
    log.info("calendar.unlinked", extra={"user_id": user_id})


def _account(link: LinkedCalendar, settings: Settings) -> Account:
    password = decrypt_password(settings.resolved_secret_key(), link.password_encrypted)
    return Account(link.url, link.username, password)


# Busy times --------------------------------------------------------------------------------

# (user id, url, start, end) -> (monotonic expiry, what was read). In-process only: each
# server process asks the calendar at most once a minute per range.
_cache: dict[tuple[int, str, int, int], tuple[float, CalendarRead]] = {}
_CACHE_LIMIT = 10_000


# user id -> (when, problem or None): how the last read or write of each linked calendar
# went in this process, for the settings page.
_last_outcome: dict[int, tuple[datetime, str | None]] = {}


def _note_outcome(user_id: int, problem: str | None) -> None:
    if len(_last_outcome) >= _CACHE_LIMIT:
        _last_outcome.clear()
    _last_outcome[user_id] = (datetime.now(UTC), problem)


def last_outcome(user_id: int) -> tuple[datetime, str | None] | None:
    """When this process last used the user's calendar, and the problem it had (or None)."""
    return _last_outcome.get(user_id)


def forget_busy_times(user_id: int) -> None:
    for key in [key for key in _cache if key[0] == user_id]:
        _cache.pop(key, None)


def _own_uid_suffix(settings: Settings) -> str:
    return "@" + settings.mail_domain


async def _read(
    link: LinkedCalendar, settings: Settings, zone: ZoneInfo, start: datetime, end: datetime
) -> CalendarRead:
    try:
        account = _account(link, settings)
        await _checked_url(link.url, settings)
        busy = await _in_thread(
            READ_TIMEOUT_SECONDS,
            caldav_client.busy_times,
            account,
            start,
            end,
            zone,
            own_uid_suffix=_own_uid_suffix(settings),
        )
    except (CalendarUnavailable, CannotDecrypt, BadRequest) as problem:
        reason = getattr(problem, "reason", None) or str(problem)
        log.warning("calendar.read_failed", extra={"user_id": link.user_id, "reason": reason})
        _note_outcome(link.user_id, reason)
        return CalendarRead(
            "unavailable", message=f"Your calendar could not be read: {reason}.", reason=reason
        )
    _note_outcome(link.user_id, None)
    return CalendarRead("ok", tuple(busy))


async def calendar_busy(
    session: AsyncSession,
    user_id: int,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    settings: Settings,
) -> CalendarRead:
    """The busy times of the user's linked calendar in [start, end), cached briefly."""
    link = await get_link(session, user_id)
    if link is None:
        return CalendarRead("not_linked")
    # Whole hours, so the default "now -> +7 days" of successive requests shares an entry.
    first = int(start.timestamp()) // 3600 * 3600
    last = -(-int(end.timestamp()) // 3600) * 3600
    key = (user_id, link.url, first, last)
    cached = _cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    read = await _read(
        link, settings, zone, datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)
    )
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    keep = CACHE_SECONDS if read.status == "ok" else FAILURE_CACHE_SECONDS
    _cache[key] = (time.monotonic() + keep, read)
    return read


def member_message(read: CalendarRead, viewer_id: int, member_id: int) -> CalendarRead:
    """The read as the viewer sees it: someone else's calendar is "their calendar"."""
    if viewer_id == member_id or read.message is None:
        return read
    text = read.message.replace("Your calendar", "Their linked calendar", 1)
    return CalendarRead(read.status, read.busy, text, read.reason)


# The confirm's check -----------------------------------------------------------------------


async def linked_conflicts(
    link: LinkedCalendar,
    user: User,
    start_time: int,
    end_time: int,
    settings: Settings,
    *,
    timeout: float = CONFIRM_TIMEOUT_SECONDS,
) -> list[Busy]:
    """The busy times of `user`'s linked calendar `link` that overlap [start_time, end_time).

    The link is read fresh (not from the cache), in a short read-only session of its own,
    so an event added a minute ago counts; and this is called before the caller's write
    transaction begins: on SQLite that holds the one write lock, which must not wait for
    a calendar server. Never blocks longer than `timeout`: a calendar that cannot be read
    in time, or at all, gives no conflicts (the confirm proceeds; it is logged).
    """
    start, end = datetime.fromtimestamp(start_time, UTC), datetime.fromtimestamp(end_time, UTC)
    zone = _zone(user)
    try:
        account = _account(link, settings)
        await _checked_url(link.url, settings)
        busy = await _in_thread(
            timeout,
            caldav_client.busy_times,
            account,
            start,
            end,
            zone,
            own_uid_suffix=_own_uid_suffix(settings),
        )
    except (CalendarUnavailable, CannotDecrypt, BadRequest) as problem:
        reason = getattr(problem, "reason", None) or str(problem)
        log.warning("calendar.check_skipped", extra={"user_id": user.id, "reason": reason})
        return []
    return sorted((b for b in busy if b.start < end and b.end > start), key=lambda b: b.start)


def describe_conflict(conflicts: list[Busy], zone: ZoneInfo) -> tuple[str, str, str]:
    """(what, when, more) of the first conflict: its summary in quotes (or ""), its time in
    `zone`, and " (and N more)" when there are others."""
    first = conflicts[0]
    when = format_range(int(first.start.timestamp()), int(first.end.timestamp()), zone)
    what = f"“{one_line(first.summary)[:100]}”" if first.summary else ""
    more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
    return what, when, more


def conflict_message(conflicts: list[Busy], zone: ZoneInfo) -> str:
    """The 409's sentence naming the first conflict (time, and summary when known)."""
    what, when, more = describe_conflict(conflicts, zone)
    return (
        f"This time overlaps {what + ' ' if what else 'a busy time '}({when}) in your linked "
        f'calendar{more}; send {{"ignore_calendar_conflicts": true}} to confirm anyway.'
    )


def _zone(user: User) -> ZoneInfo:
    from meetbook.meetings.timeparse import resolve_zone

    return resolve_zone(user.timezone)


# Write-through -----------------------------------------------------------------------------


def sync_key(meeting_id: int, user_id: int) -> str:
    return f"calendar:{meeting_id}:{user_id}"


async def enqueue_calendar_sync(session: AsyncSession, meeting: Meeting) -> list[Notification]:
    """Queue writing `meeting`'s current state into each participant's linked calendar.

    Call it in the transaction of any change to a confirmed meeting's time or status
    (confirm, cancel, reschedule). An older queued sync of the same meeting and person is
    cancelled: the new row writes whatever the meeting is when it is delivered.
    """
    participants = sorted({meeting.requester_id, meeting.recipient_id})
    linked = await session.scalars(
        select(LinkedCalendar.user_id).where(LinkedCalendar.user_id.in_(participants))
    )
    rows = []
    for user_id in linked:
        key = sync_key(meeting.id, user_id)
        await cancel_scheduled(session, key)
        rows.append(
            Notification(
                event=SYNC_EVENT,
                meeting_id=meeting.id,
                user_id=user_id,
                channel=CHANNEL,
                context={},
                next_attempt_at=utcnow(),
                schedule_key=key,
            )
        )
    if rows:
        session.add_all(rows)
        session.info[OUTBOX_WRITTEN] = True
    return rows


def calendar_copy(meeting: Meeting, requester: User, recipient: User, settings: Settings) -> bytes:
    """The meeting as a calendar object resource: the invites' UID and SEQUENCE, no METHOD
    (RFC 4791 §4.1), and no ORGANIZER/ATTENDEE, so that a scheduling server (RFC 6638)
    does not mail invitations of its own."""
    info = MeetingInfo.of(
        meeting, requester, recipient, reason=None, was_confirmed=True, sequence=meeting.sequence
    )
    data = build_invite(
        info, method="PUBLISH", domain=settings.mail_domain, base_url=settings.base_url
    )
    calendar = Calendar.from_ical(data)
    calendar.pop("METHOD", None)
    for event in calendar.walk("VEVENT"):
        event.pop("ORGANIZER", None)
        event.pop("ATTENDEE", None)
    copy: bytes = calendar.to_ical()
    return copy


async def write_through(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    meeting: Meeting,
    user_id: int,
    requester: User,
    recipient: User,
) -> None:
    """Put the meeting's current state into `user_id`'s linked calendar (the worker's send).

    Raises the worker's delivery errors: temporary ones are retried with backoff.
    """
    async with sessionmaker() as session:
        link = await get_link(session, user_id)
    if link is None:
        return  # unlinked meanwhile: nothing to write
    try:
        account = _account(link, settings)
        await resolve_public_url(link.url, allow_private=settings.allow_private_targets)
    except (CannotDecrypt, OutboundRefused) as problem:
        raise PermanentDeliveryError(f"linked calendar: {problem}") from None
    uid = invite_uid(meeting.booking_number, settings.mail_domain)
    try:
        # machine.BOOKED (imported there, not here: the machine imports this module).
        if meeting.status in ("confirmed", "completed"):
            data = calendar_copy(meeting, requester, recipient, settings)
            await _in_thread(WRITE_TIMEOUT_SECONDS, caldav_client.put_event, account, uid, data)
        else:
            await _in_thread(WRITE_TIMEOUT_SECONDS, caldav_client.delete_event, account, uid)
    except CalendarUnavailable as problem:
        _note_outcome(user_id, problem.reason)
        if problem.temporary:
            raise TemporaryDeliveryError(f"linked calendar: {problem.reason}") from None
        raise PermanentDeliveryError(f"linked calendar: {problem.reason}") from None
    forget_busy_times(user_id)
    _note_outcome(user_id, None)
    log.info(
        "calendar.written",
        extra={"meeting_id": meeting.id, "user_id": user_id, "status": meeting.status},
    )


def slot_window_busy(read: CalendarRead) -> list[tuple[datetime, datetime]]:
    return [(item.start, item.end) for item in read.busy]


async def refuse_external_conflicts(
    sessionmaker: async_sessionmaker[AsyncSession],
    user: User,
    start_time: int,
    end_time: int,
    settings: Settings,
) -> None:
    """409 naming the first busy time of `user`'s linked calendar in [start_time, end_time).

    For confirm and accepting a proposal, unless the body said `ignore_calendar_conflicts`:
    call it before the request's session writes (see `linked_conflicts`).
    """
    async with open_session(sessionmaker, read_only=True) as session:
        link = await get_link(session, user.id)
    if link is None:
        return
    conflicts = await linked_conflicts(link, user, start_time, end_time, settings)
    if conflicts:
        raise Conflict(conflict_message(conflicts, _zone(user)))
