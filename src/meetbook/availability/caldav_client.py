"""Talking to a linked CalDAV calendar with the `caldav` library (synchronous: every
function here runs in a worker thread, see `availability/calendar.py`).

Busy times come from the events in the range (a calendar-query REPORT), expanded
(recurrences) by `recurring-ical-events`; transparent and cancelled events do not count.
Dates (all-day events) and floating times are read in the calendar owner's own zone.
When listing events is refused, a free-busy REPORT (RFC 4791 §7.10) answers instead;
servers answer it in one of two shapes: a bare `text/calendar` VFREEBUSY, or (some) a
multistatus whose `calendar-data` holds one. See `busy_times` for why events come first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from icalendar import Calendar

if TYPE_CHECKING:
    import caldav

# `caldav` (with lxml and niquests) is imported when a calendar is first used, not with
# the app: it costs about a second of start-up on a busy machine.

log = logging.getLogger("meetbook.calendar")

# Per HTTP request; the caller bounds the whole exchange again (asyncio.wait_for).
REQUEST_TIMEOUT_SECONDS = 10
_CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
# What a user reads, per HTTP status the server answered.
_STATUS_SENTENCES = {
    401: "the server refused the user name or password (401 Unauthorized)",
    403: "the server does not let this account read the calendar (403 Forbidden)",
    404: "there is no calendar at this address (404 Not Found)",
}


class CalendarUnavailable(Exception):
    """The calendar could not be read or written; `reason` is a phrase a user understands.

    `temporary` says whether trying again later may help (network, 5xx) or not (401, 404).
    """

    def __init__(self, reason: str, *, temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary


@dataclass(frozen=True)
class Account:
    url: str
    username: str
    password: str


@dataclass(frozen=True)
class Busy:
    """A busy interval of the linked calendar (aware UTC); `summary` when the server said."""

    start: datetime
    end: datetime
    summary: str | None = None


def _client(account: Account) -> caldav.DAVClient:
    import caldav
    from requests.auth import HTTPBasicAuth

    # Basic auth from the first request: otherwise the library first asks without
    # credentials to learn the scheme, a 401 that servers may answer slowly (Radicale
    # waits a second after every failed login) — on every read.
    auth = HTTPBasicAuth(account.username, account.password) if account.username else None
    return caldav.DAVClient(url=account.url, auth=auth, timeout=REQUEST_TIMEOUT_SECONDS)


def _status_reason(status: int, reason: str | None) -> str:
    known = _STATUS_SENTENCES.get(status)
    if known:
        return known
    return f"the server answered {status} {reason or ''}".strip()


def _unavailable(error: Exception) -> CalendarUnavailable:
    """A library or network error as a reason (no URL, no credentials in it)."""
    from caldav.lib import error as dav_error

    if isinstance(error, CalendarUnavailable):
        return error
    if isinstance(error, dav_error.NotFoundError):
        return CalendarUnavailable(_STATUS_SENTENCES[404], temporary=False)
    if isinstance(error, dav_error.AuthorizationError):
        return CalendarUnavailable(_STATUS_SENTENCES[401], temporary=False)
    if isinstance(error, dav_error.DAVError):
        reason = str(error.reason or "").strip()[:200] or "an error"
        return CalendarUnavailable(f"the server answered {reason}", temporary=True)
    name = type(error).__name__
    if "Timeout" in name:
        return CalendarUnavailable("the server did not answer in time", temporary=True)
    if "Connection" in name or isinstance(error, OSError):
        return CalendarUnavailable("the server could not be reached", temporary=True)
    return CalendarUnavailable(f"the calendar could not be read ({name})", temporary=True)


def _calendar(client: caldav.DAVClient, account: Account) -> caldav.Calendar:
    import caldav

    return caldav.Calendar(client=client, url=account.url)


def probe(account: Account, now: datetime) -> None:
    """Read the calendar once (a one-day event query), or raise CalendarUnavailable."""
    try:
        with _client(account) as client:
            _calendar(client, account).search(
                event=True, start=now, end=now + timedelta(days=1), expand=False
            )
    except Exception as error:
        raise _unavailable(error) from None


# Busy times --------------------------------------------------------------------------------


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as aware UTC: dates and floating times in the owner's zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=zone).astimezone(UTC)


def _event_busy(component: Any, zone: ZoneInfo) -> Busy | None:
    """One (expanded) VEVENT as a busy time, or None when it does not make one busy."""
    if str(component.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    if "DTSTART" not in component:
        return None
    raw_start = component["DTSTART"].dt
    start = _instant(raw_start, zone)
    if "DTEND" in component:
        end = _instant(component["DTEND"].dt, zone)
    elif "DURATION" in component:
        end = start + component["DURATION"].dt
    elif not isinstance(raw_start, datetime):
        end = _instant(raw_start + timedelta(days=1), zone)  # RFC 5545: a one-day event
    else:
        end = start
    if end <= start:
        return None
    summary = component.get("SUMMARY")
    return Busy(start, end, str(summary) if summary is not None else None)


def _freebusy_periods(calendar: Calendar, zone: ZoneInfo) -> Iterator[Busy]:
    for component in calendar.walk("VFREEBUSY"):
        properties = component.get("FREEBUSY", [])
        if not isinstance(properties, list):
            properties = [properties]
        for prop in properties:
            if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                continue
            # One property may hold several comma-separated periods.
            text = prop.to_ical().decode() if hasattr(prop, "to_ical") else str(prop)
            for period in text.split(","):
                first, _, second = period.strip().partition("/")
                start = _parse_utc(first, zone)
                end = start + _parse_duration(second) if second.startswith(("P", "+P")) else None
                end = end or _parse_utc(second, zone)
                if end > start:
                    yield Busy(start, end)


def _parse_utc(value: str, zone: ZoneInfo) -> datetime:
    from icalendar.prop import vDDDTypes

    parsed = vDDDTypes.from_ical(value)  # type: ignore[no-untyped-call]
    if not isinstance(parsed, date):
        raise ValueError(f"not a date-time: {value}")
    return _instant(parsed, zone)


def _parse_duration(value: str) -> timedelta:
    from icalendar.prop import vDuration

    parsed = vDuration.from_ical(value)  # type: ignore[no-untyped-call]
    if not isinstance(parsed, timedelta):
        raise ValueError(f"not a duration: {value}")
    return parsed


def _calendars_in_answer(raw: bytes | str) -> list[Calendar]:
    """The iCalendar objects of a free-busy answer, in either shape servers use."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stripped = text.lstrip()
    if stripped.startswith("BEGIN:VCALENDAR"):
        return [Calendar.from_ical(stripped)]
    if not stripped.startswith("<"):
        raise ValueError("neither iCalendar nor XML")
    from lxml import etree  # type: ignore[import-untyped]

    tree = etree.fromstring(stripped.encode(), parser=etree.XMLParser(resolve_entities=False))
    found = tree.iter(f"{{{_CALDAV_NS}}}calendar-data")
    return [Calendar.from_ical(node.text) for node in found if node.text and node.text.strip()]


def _free_busy(
    client: caldav.DAVClient, account: Account, start: datetime, end: datetime, zone: ZoneInfo
) -> list[Busy] | None:
    """Busy times from a free-busy REPORT, or None when the server does not answer one."""
    from caldav.elements import cdav
    from lxml import etree

    query = cdav.FreeBusyQuery() + [cdav.TimeRange(start, end)]  # noqa: RUF005 (a DAV element, not a list)
    body = etree.tostring(query.xmlelement(), encoding="utf-8", xml_declaration=True)
    response = client.report(account.url, body.decode(), 1)
    if response.status in (401, 404):
        raise CalendarUnavailable(_status_reason(response.status, response.reason), temporary=False)
    if response.status >= 300:
        log.info("calendar.freebusy_unsupported", extra={"status": response.status})
        return None
    try:
        calendars = _calendars_in_answer(response.raw)
        busy = [item for calendar in calendars for item in _freebusy_periods(calendar, zone)]
    except ValueError:
        log.info("calendar.freebusy_unreadable")
        return None
    if not any(calendar.walk("VFREEBUSY") for calendar in calendars):
        return None
    return busy


def _listed_events(
    client: caldav.DAVClient,
    account: Account,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    ignore_uid: str | None,
) -> list[Busy]:
    """Busy times from the events in [start, end), recurrences expanded here."""
    found: list[Any] = _calendar(client, account).search(
        event=True, start=start, end=end, expand=False
    )
    busy: list[Busy] = []
    for item in found:
        calendar = Calendar.from_ical(item.data)
        for component in _occurrences(calendar, start, end):
            if ignore_uid is not None and _is_ours(str(component.get("UID", "")), ignore_uid):
                continue
            interval = _event_busy(component, zone)
            if interval is not None and interval.end > start and interval.start < end:
                busy.append(interval)
    return busy


def _occurrences(calendar: Calendar, start: datetime, end: datetime) -> Iterable[Any]:
    import recurring_ical_events  # type: ignore[import-untyped]

    occurrences: Iterable[Any] = recurring_ical_events.of(calendar).between(start, end)
    return occurrences


def _is_ours(uid: str, suffix: str) -> bool:
    """Whether `uid` is one of meetbook's own meetings (they are busy slots already)."""
    return uid.startswith("meeting-") and uid.endswith(suffix)


def busy_times(
    account: Account,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    *,
    own_uid_suffix: str,
    prefer: Literal["events", "free-busy"] = "events",
) -> list[Busy]:
    """The calendar's busy times overlapping [start, end).

    Events are listed first: that names them (the confirm's 409), and expanding their
    recurrences here gets each occurrence's own UTC offset — Radicale 3.9's free-busy
    answer keeps the first occurrence's offset across a DST change (an hour off). When
    listing is refused (an account allowed free-busy only, a server without
    calendar-query), the free-busy REPORT answers instead. `prefer="free-busy"` asks it
    first (for servers known to answer it well; the tests use it).
    """
    from caldav.lib import error as dav_error

    try:
        with _client(account) as client:
            if prefer == "free-busy":
                answer = _free_busy(client, account, start, end, zone)
                if answer is not None:
                    return answer
                return _listed_events(client, account, start, end, zone, own_uid_suffix)
            try:
                return _listed_events(client, account, start, end, zone, own_uid_suffix)
            except dav_error.DAVError as refused:
                log.info("calendar.listing_refused", extra={"reason": str(refused.reason)[:200]})
                answer = _free_busy(client, account, start, end, zone)
                if answer is None:
                    raise
                return answer
    except Exception as error:
        raise _unavailable(error) from None


# Write-through -----------------------------------------------------------------------------


def object_url(account: Account, uid: str) -> str:
    """Where meetbook keeps a meeting in the calendar: one resource per UID."""
    return account.url.rstrip("/") + "/" + quote(uid, safe="") + ".ics"


def put_event(account: Account, uid: str, data: bytes) -> None:
    """Create or replace the meeting's entry (an idempotent PUT by UID)."""
    try:
        with _client(account) as client:
            response = client.put(
                object_url(account, uid),
                data.decode(),
                {"Content-Type": "text/calendar; charset=utf-8"},
            )
    except Exception as error:
        raise _unavailable(error) from None
    if response.status >= 300:
        raise CalendarUnavailable(
            _status_reason(response.status, response.reason), temporary=response.status >= 500
        )


def delete_event(account: Account, uid: str) -> None:
    """Remove the meeting's entry; one that is not there is already removed."""
    try:
        with _client(account) as client:
            response = client.delete(object_url(account, uid))
    except Exception as error:
        raise _unavailable(error) from None
    if response.status >= 300 and response.status not in (404, 410):
        raise CalendarUnavailable(
            _status_reason(response.status, response.reason), temporary=response.status >= 500
        )
