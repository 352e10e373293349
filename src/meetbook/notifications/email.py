"""Render a notice as a multipart email, with a calendar invite when the meeting needs one."""

from __future__ import annotations

import base64
import email.policy
import functools
from datetime import UTC, datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from meetbook.i18n import N_, _, as_locale, install_in_jinja, speaking
from meetbook.notifications.content import (
    UTC_ZONE,
    MeetingInfo,
    Notice,
    lead_time,
    one_line,
    other_party_name,
    reader_zone,
)
from meetbook.notifications.errors import PermanentDeliveryError
from meetbook.notifications.ics import build_invite
from meetbook.timeformat import format_duration, format_when, format_when_short

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
install_in_jinja(_templates)


class SharedHeaders(HeaderRegistry):
    """A header registry that parses each (name, value) once and hands out that header.

    Parsing a header value into its token tree is most of what building a message
    costs, and most values repeat from message to message: the sender, `MIME-Version`,
    the `Content-Type` and `Content-Transfer-Encoding` of every part. A parsed header is
    an immutable value (a `str` with its parse tree), so equal ones can be shared; the
    output is the same as with a fresh parse. Bounded: values seen once (Message-ID,
    Date) fall out of the cache. The header classes are kept too: the registry makes
    a new class per lookup, and EmailMessage looks one up for every header it sets.
    """

    def __init__(self, size: int = 1024) -> None:
        super().__init__()
        self._parsed = functools.lru_cache(maxsize=size)(super().__call__)
        self._classes = functools.lru_cache(maxsize=64)(super().__getitem__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        found: type[BaseHeader] = self._classes(name.lower())
        return found

    def __call__(self, name: str, value: object) -> BaseHeader:
        if type(value) is str:
            parsed: BaseHeader = self._parsed(name, value)
            return parsed
        return super().__call__(name, value)  # an Address, a Header: not hashable


# `email.policy.default` (what EmailMessage() uses) with its headers shared.
MAIL_POLICY = email.policy.default.clone(header_factory=SharedHeaders())

# The contract's exact English subject (translated for other readers, like every message).
CREATED_SUBJECT = N_("You have received new meeting request!")
# The longest "Request again" query string (uvicorn refuses request heads over 16 KiB).
MAX_PREFILL_QUERY = 8000


# RFC 5322 §2.1.1: lines of at most 78 characters; RFC 2047 §2: an encoded word of at
# most 75. Python 3.11's folder can write 76-character encoded words for long non-ASCII
# names, so such headers are encoded here (see _encoded_header).
MAX_LINE = 78
MAX_ENCODED_WORD = 75
_WORD_OVERHEAD = len("=?utf-8?b??=")


def message_id(notice: Notice, domain: str) -> str:
    """Stable per notification, so a redelivered email is recognisable as the same one.

    Row ids alone repeat across installs and restored databases (three fresh databases
    gave three meetings one Message-ID, and Gmail drops a repeat as a duplicate), so the
    right-hand side names the meeting's booking number, random per meeting, under the
    install's host. The left-hand side keeps the ids that tools and logs read.
    """
    meeting = notice.meeting
    unique = f"{meeting.booking_number.lower()}.{domain}"
    return f"<notification-{notice.notification_id}.meeting-{meeting.id}@{unique}>"


def render_email(
    notice: Notice,
    *,
    mail_from: str,
    base_url: str,
    domain: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The complete message for one notice, in its reader's language; `now` (Date, DTSTAMP)
    is injectable for tests."""
    with speaking(notice.to_locale):
        return _render_email(notice, mail_from=mail_from, base_url=base_url, domain=domain, now=now)


def _render_email(
    notice: Notice, *, mail_from: str, base_url: str, domain: str, now: datetime | None
) -> EmailMessage:
    now = now or datetime.now(UTC)
    context = _context(notice, base_url)
    subject = _subject(notice, context)
    context["subject"] = subject

    message = EmailMessage(policy=MAIL_POLICY)
    _set_header(message, "Subject", one_line(subject))
    # As text, so that the parsed header is shared (SharedHeaders): it is the same in
    # every message.
    message["From"] = str(_address(*parseaddr(mail_from)))
    to = _address(notice.to_name, notice.to_email)
    if to.display_name.isascii():
        message["To"] = to
    else:
        _set_header(message, "To", to.display_name, suffix=f"<{to.addr_spec}>")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notice, domain)
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    message["Auto-Submitted"] = "auto-generated"

    # Quoted-printable keeps mostly-ASCII bodies readable on the wire (the default may be base64).
    text = _templates.get_template(f"{notice.event}.txt").render(context)
    html = _templates.get_template(f"{notice.event}.html").render(context)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    method = _invite_method(notice)
    if method is not None:
        invite = build_invite(
            notice.meeting, method=method, domain=domain, base_url=base_url, now=now
        ).decode()
        # Calendar clients act on the text/calendar alternative; the attachment is for the rest.
        message.add_alternative(invite, subtype="calendar", params={"method": method})
        message.add_attachment(
            invite.encode(),
            maintype="application",
            subtype="ics",
            filename="invite.ics",
        )
    return message


def _invite_method(notice: Notice) -> Literal["REQUEST", "CANCEL"] | None:
    # A reschedule is the same invite (UID) with a higher SEQUENCE and the new times.
    if notice.event in ("meeting-confirmed", "meeting-rescheduled"):
        return "REQUEST"
    if notice.event == "meeting-cancelled" and notice.meeting.was_confirmed:
        return "CANCEL"
    return None


def _address(name: str, addr_spec: str) -> Address:
    # Address quotes or encodes whatever the display name holds, and one_line removes CR/LF,
    # so a name can never end the header and start another.
    try:
        return Address(display_name=one_line(name), addr_spec=addr_spec.strip())
    except (ValueError, IndexError) as error:
        raise PermanentDeliveryError(f"invalid email address {addr_spec!r}: {error}") from error


def _set_header(message: EmailMessage, name: str, text: str, *, suffix: str = "") -> None:
    """Set `name` to `text` (then `suffix`, ASCII), folded within the RFC limits."""
    if text.isascii():
        message[name] = f"{text} {suffix}".strip()
        return
    # Stored as written: the policy keeps a raw value whose lines fit instead of
    # refolding it.
    message.set_raw(name, "\n ".join(_encoded_header(len(name) + 2, text, suffix)))


def _encoded_header(prefix: int, text: str, suffix: str) -> list[str]:
    """`text` as RFC 2047 base64 encoded words, one a line, then `suffix`.

    Each word holds whole characters and fits both its line (78 characters, the first
    line after `Name: `, the others after one space) and RFC 2047's 75. Decoders join
    adjacent encoded words without the folding space, so spaces stay inside the words.
    """
    lines: list[str] = []
    budget = min(MAX_ENCODED_WORD, MAX_LINE - prefix)
    chunk = ""
    for char in text:
        if chunk and _WORD_OVERHEAD + 4 * -(-len((chunk + char).encode()) // 3) > budget:
            # Break after the chunk's last space when it has one: some decoders
            # (Python's address parser among them) add a space between encoded words.
            cut = chunk.rfind(" ") + 1 or len(chunk)
            lines.append(_encoded_word(chunk[:cut].encode()))
            chunk, budget = chunk[cut:], min(MAX_ENCODED_WORD, MAX_LINE - 1)
        chunk += char
    lines.append(_encoded_word(chunk.encode()))
    if suffix:
        if len(lines[-1]) + 1 + len(suffix) + (prefix if len(lines) == 1 else 1) <= MAX_LINE:
            lines[-1] += f" {suffix}"
        else:
            lines.append(suffix)
    return lines


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode()}?="


def _subject(notice: Notice, context: dict[str, Any]) -> str:
    other, when = context["other_name"], context["when_short"]
    match notice.event:
        case "meeting-created":
            return _(CREATED_SUBJECT)
        case "meeting-confirmed":
            return _("Meeting confirmed: %(other)s, %(when)s", other=other, when=when)
        case "meeting-rejected":
            return _("Meeting request rejected: %(other)s, %(when)s", other=other, when=when)
        case "meeting-cancelled":
            return _("Meeting cancelled: %(other)s, %(when)s", other=other, when=when)
        case "meeting-proposed":
            return _("New time proposed: %(other)s, %(when)s", other=other, when=when)
        case "meeting-proposal-declined":
            return _(
                "New time declined: %(other)s, %(when)s",
                other=other,
                when=context["proposed_when_short"],
            )
        case "meeting-rescheduled":
            return _("Meeting rescheduled: %(other)s, %(when)s", other=other, when=when)

        case "meeting-expiring":
            return _("Waiting for your answer: %(other)s, %(when)s", other=other, when=when)
        case "meeting-expired":
            return _("Meeting request expired: %(other)s, %(when)s", other=other, when=when)
        case "meeting-reminder":
            # The title is one line by the text rule; the header is set through one_line too.
            title = context["title"]
            if title:
                return _(
                    "Meeting reminder: %(title)s (%(other)s), %(when)s",
                    title=title,
                    other=other,
                    when=when,
                )
            return _("Meeting reminder: %(other)s, %(when)s", other=other, when=when)


def _when_or_none(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return None if moment is None else format_when(moment, zone)


def answer_urls(base_url: str, token: str) -> dict[str, str]:
    """The email's answer links (CONTRACT §2): each opens a page with one button."""
    base = f"{base_url.rstrip('/')}/answer/{token}"
    return {action: f"{base}/{action}" for action in ("confirm", "reject", "propose")}


def _context(notice: Notice, base_url: str) -> dict[str, Any]:
    meeting = notice.meeting
    base_url = base_url.rstrip("/")
    zone = reader_zone(notice.to_timezone)
    link = one_line(meeting.link) if meeting.link else None
    minutes = round((meeting.end - meeting.start).total_seconds() / 60)
    return {
        "event": notice.event,
        "to_name": one_line(notice.to_name),
        "requester_name": one_line(meeting.requester_name),
        "recipient_name": one_line(meeting.recipient_name),
        "actor_name": one_line(notice.actor_name),
        "other_name": other_party_name(notice),
        # Only changes the phrasing ("Bob cancelled" rather than "cancelled by Bob").
        "actor_is_other": one_line(notice.actor_name) == other_party_name(notice),
        # None when the reader lives in UTC, so the time is not shown twice.
        "when_local": None if zone.key == "UTC" else format_when(meeting.start, zone),
        "when_utc": format_when(meeting.start, UTC_ZONE),
        "when_short": format_when_short(meeting.start, zone),
        "duration": format_duration(minutes),
        "lang": as_locale(notice.to_locale),
        "booking_number": meeting.booking_number,
        "reason": meeting.reason.strip() if meeting.reason and meeting.reason.strip() else None,
        "link": link,
        # Only http(s) links become clickable; anything else is shown as text.
        "link_href": link if link and urlsplit(link).scheme in ("http", "https") else None,
        "has_invite": _invite_method(notice) is not None,
        "base_url": base_url,
        "meeting_url": f"{base_url}/meetings/{meeting.id}",
        "pending_url": f"{base_url}/meetings?tab=pending-meeting",
        # A new time's notices: the time it replaces, or the proposed time declined.
        "previous_when": _when_or_none(meeting.previous_start, zone),
        "proposed_when": _when_or_none(meeting.proposed_start, zone),
        "proposed_when_short": (
            format_when_short(meeting.proposed_start, zone) if meeting.proposed_start else None
        ),
        # Proposed for a confirmed meeting: it stays at its time unless accepted.
        "for_confirmed": meeting.was_confirmed,
        "answer_links": answer_urls(base_url, notice.answer_token) if notice.answer_token else None,
        "upcoming_url": f"{base_url}/meetings?tab=upcoming",
        "title": one_line(meeting.title) if meeting.title else None,
        "notes": meeting.notes.strip() if meeting.notes and meeting.notes.strip() else None,
        "lead_time": lead_time(notice.lead_minutes) if notice.lead_minutes else None,
        "request_again_url": request_again_url(meeting, base_url),
    }


def request_again_url(meeting: MeetingInfo, base_url: str) -> str:
    """The request form, filled in with this meeting's team, member, link, title and notes."""
    params = {
        "team": meeting.team_id,
        "member": meeting.recipient_id,
        "link": meeting.link,
        "title": meeting.title,
        "notes": meeting.notes,
    }
    query = urlencode({name: value for name, value in params.items() if value})
    if len(query) > MAX_PREFILL_QUERY:
        # Long non-Latin notes encode to many times their length: past what servers take
        # in a request line, the link leaves them out rather than fail to open.
        query = urlencode(
            {name: value for name, value in params.items() if value and name != "notes"}
        )
    return f"{base_url.rstrip('/')}/meetings/new" + (f"?{query}" if query else "")
