"""Account emails (CONTRACT §1.8): the invite's sign-up link and the password-reset link.

An outbox row of these kinds names no meeting; its context holds the invite's or the
reset's id, and the link is recomputed here from the server's secret (`auth/links.py`),
so no stored row holds it. A link no longer usable when the worker comes to it (the
invite was withdrawn, a newer reset replaced it) is not sent.

Each is written in its reader's language: a reset in the account's `locale`; an invite
in the invitee's when that address already has an account, else in the inviting admin's
(the team's likely language; English when the inviter is gone).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.auth.links import link_token
from meetbook.config import Settings
from meetbook.i18n import _, as_locale, current_locale, speaking
from meetbook.models import Notification, PasswordReset, Team, TeamInvite, User
from meetbook.notifications.content import UTC_ZONE, one_line, reader_zone
from meetbook.notifications.email import _address, _set_header, _templates
from meetbook.notifications.errors import PermanentDeliveryError
from meetbook.notifications.mailbox import RESTRICTED_HEADER
from meetbook.timeformat import format_when

ACCOUNT_EVENTS = frozenset({"account-invite", "password-reset"})
INVITE_PATH = "/invite/"
RESET_PATH = "/password-reset/"


def invite_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{INVITE_PATH}{token}"


def reset_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{RESET_PATH}{token}"


async def render_account_email(
    sessionmaker: async_sessionmaker[AsyncSession],
    row: Notification,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> EmailMessage:
    """The email for an account outbox row; PermanentDeliveryError when its link is dead."""
    now = now or datetime.now(UTC)
    secret = settings.resolved_secret_key()
    ref_id = int(row.context["ref_id"])
    to_email = str(row.context["to_email"])
    async with sessionmaker() as session:
        locale = await _reader_locale(session, row)
        with speaking(locale):
            return await _render(session, row, settings, secret, ref_id, to_email, now)


async def _reader_locale(session: AsyncSession, row: Notification) -> str:
    """The language of the email's reader (module docstring)."""
    ref_id = int(row.context["ref_id"])
    if row.event == "password-reset":
        reset = await session.get(PasswordReset, ref_id)
        user = await session.get(User, reset.user_id) if reset else None
        return as_locale(user.locale if user else None)
    invite = await session.get(TeamInvite, ref_id) if row.event == "account-invite" else None
    if invite is None:
        return as_locale(None)
    invitee_locale = await session.scalar(select(User.locale).where(User.email == invite.email))
    if invitee_locale is not None:
        return as_locale(invitee_locale)
    inviter = await session.get(User, invite.invited_by_id) if invite.invited_by_id else None
    return as_locale(inviter.locale if inviter else None)


async def _render(
    session: AsyncSession,
    row: Notification,
    settings: Settings,
    secret: str,
    ref_id: int,
    to_email: str,
    now: datetime,
) -> EmailMessage:
    if row.event == "account-invite":
        context, salt = await _invite_context(session, ref_id, secret, settings, now)
        subject = _("You are invited to %(team)s on meetbook", team=context["team_name"])
        to_name = ""
    elif row.event == "password-reset":
        context, salt = await _reset_context(session, ref_id, secret, settings, now)
        subject = _("Reset your meetbook password")
        to_name = str(context["to_name"])
    else:
        raise PermanentDeliveryError(f"unknown account email {row.event!r}")
    context |= {
        "subject": subject,
        "to_email": to_email,
        "base_url": settings.base_url,
        "lang": current_locale(),
    }
    message = EmailMessage()
    _set_header(message, "Subject", one_line(subject))
    message["From"] = _address(*parseaddr(settings.mail_from))
    message["To"] = _address(to_name, to_email)
    message["Date"] = format_datetime(now)
    # Stable per notification; the salt keeps it unique across installs and restores.
    message["Message-ID"] = (
        f"<notification-{row.id}.{row.event}.{salt[:16]}@{settings.mail_domain}>"
    )
    message["Auto-Submitted"] = "auto-generated"
    message[RESTRICTED_HEADER] = row.event
    text = _templates.get_template(f"{row.event}.txt").render(context)
    html = _templates.get_template(f"{row.event}.html").render(context)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


async def _invite_context(
    session: AsyncSession, ref_id: int, secret: str, settings: Settings, now: datetime
) -> tuple[dict[str, object], str]:
    invite = await session.get(TeamInvite, ref_id)
    if invite is None or invite.accepted_at or invite.revoked_at or invite.expires_at <= now:
        raise PermanentDeliveryError("the invite is no longer pending")
    team = await session.get(Team, invite.team_id)
    inviter = await session.get(User, invite.invited_by_id) if invite.invited_by_id else None
    has_account = await session.scalar(select(User.id).where(User.email == invite.email))
    token = link_token(secret, "invite", invite.id, invite.salt)
    return {
        "team_name": one_line(team.name) if team else _("a team"),
        "inviter_name": one_line(inviter.name) if inviter else _("A team admin"),
        "role": invite.role,
        "has_account": has_account is not None,
        "expires": format_when(invite.expires_at, UTC_ZONE),
        "link": invite_url(settings.base_url, token),
    }, invite.salt


async def _reset_context(
    session: AsyncSession, ref_id: int, secret: str, settings: Settings, now: datetime
) -> tuple[dict[str, object], str]:
    reset = await session.get(PasswordReset, ref_id)
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise PermanentDeliveryError("the reset link is no longer valid")
    user = await session.get(User, reset.user_id)
    if user is None:
        raise PermanentDeliveryError("the account is gone")
    token = link_token(secret, "password-reset", reset.id, reset.salt)
    zone = reader_zone(user.timezone or "UTC")
    return {
        "to_name": one_line(user.name),
        "expires": format_when(reset.expires_at, zone),
        "link": reset_url(settings.base_url, token),
    }, reset.salt
