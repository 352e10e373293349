"""The `/dev/mailbox` page: what a developer sees of the emails kept in `dev_emails`."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from meetbook.models import DevEmail

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Part:
    content_type: str
    filename: str | None


@dataclass(frozen=True)
class MailboxEntry:
    id: int
    subject: str
    sender: str
    to: str
    date: str
    message_id: str
    text: str | None
    html: str | None
    parts: list[Part]


def _part_text(part: object) -> str | None:
    if not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset or a broken transfer encoding
        return None
    return content if isinstance(content, str) else None


def mailbox_entry(row: DevEmail) -> MailboxEntry:
    """What the page shows of one stored email; headers fall back to the row's columns."""
    message = email.message_from_string(row.raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # what policy.default builds
    created = row.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return MailboxEntry(
        id=row.id,
        subject=str(message.get("Subject") or row.subject),
        sender=str(message.get("From") or ""),
        to=str(message.get("To") or row.to_address),
        date=str(message.get("Date") or created),
        message_id=row.message_id,
        text=_part_text(message.get_body(preferencelist=("plain",))),
        html=_part_text(message.get_body(preferencelist=("html",))),
        parts=[
            Part(part.get_content_type(), part.get_filename())
            for part in message.walk()
            if not part.is_multipart()
        ],
    )


def render_mailbox(
    entries: list[MailboxEntry],
    *,
    older_url: str | None,
    newest_url: str | None,
    stylesheet: str,
    icon: str,
) -> str:
    return _templates.get_template("mailbox.html").render(
        entries=entries,
        older_url=older_url,
        newest_url=newest_url,
        stylesheet=stylesheet,
        icon=icon,
    )


def email_html(row: DevEmail) -> str | None:
    """The email's HTML part as a mail client would show it, or None when it has none.

    Links get `target="_blank"` through a `<base>`, as mail clients open them in a new
    tab; otherwise they would try to open inside the preview's frame.
    """
    message = email.message_from_string(row.raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html = _part_text(message.get_body(preferencelist=("html",)))
    if html is None:
        return None
    base = '<base target="_blank">'
    head = html.lower().find("<head>")
    if head < 0:
        return base + html
    return html[: head + len("<head>")] + base + html[head + len("<head>") :]
