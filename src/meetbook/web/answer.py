"""Answering from the email without signing in (CONTRACT §2): /answer/{token}/{action}.

GET shows the meeting and one button and changes nothing (mail scanners fetch links);
only the button's POST acts. The token authorizes the POST (it is the CSRF defence:
another site cannot know it) and acts as the participant it was sent to, whoever holds
the link; a browser signed in as someone else is refused. A link that no longer works
says why and links to the sign-in page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.errors import ApiError
from meetbook.i18n import N_, _, use_locale
from meetbook.jsonbody import validate_body
from meetbook.meetings import answer_links, service
from meetbook.meetings.answer_links import LINK_ACTIONS, AnswerGrant, AnswerLinks, LinkAction
from meetbook.meetings.schemas import MAX_REASON_LENGTH, ProposeBody, ReasonBody
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import Meeting, User
from meetbook.web.meetings import MeetingView, meeting_views
from meetbook.web.session import MaybeViewer, Viewer, app_settings
from meetbook.web.templating import render

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)

INVALID = N_("This link is not valid. It may have been copied incompletely.")
NOT_YOURS = N_(
    "This link was sent to someone else, and you are signed in as %(name)s. "
    "Answer from the meeting page instead, or sign out to use the link."
)

# What each link's page says and does, by the link and what the email asked about.
_TITLES = {
    ("confirm", "pending"): N_("Confirm this meeting"),
    ("reject", "pending"): N_("Reject this meeting request"),
    ("propose", "pending"): N_("Propose another time"),
    ("confirm", "confirmed"): N_("Accept the new time"),
    ("reject", "confirmed"): N_("Keep the current time"),
    ("propose", "confirmed"): N_("Propose another time"),
}
_BUTTONS = {
    ("confirm", "pending"): N_("Confirm the meeting"),
    ("reject", "pending"): N_("Reject the request"),
    ("propose", "pending"): N_("Propose this time"),
    ("confirm", "confirmed"): N_("Accept the new time"),
    ("reject", "confirmed"): N_("Decline the new time"),
    ("propose", "confirmed"): N_("Propose this time"),
}
_DONE = {
    "confirm": N_(
        "You confirmed the meeting with %(other)s on %(when)s. You both get a calendar invite."
    ),
    "reject": N_("You rejected the request from %(other)s. They will be told."),
    "propose": N_("You proposed %(when)s to %(other)s. They will be asked to answer."),
    "accept": N_(
        "You moved the meeting with %(other)s to %(when)s. You both get an updated invite."
    ),
    "decline": N_("You kept the meeting with %(other)s on %(when)s. They will be told."),
}


@dataclass(frozen=True)
class LinkReader:
    """The participant an answer link was sent to, reading the page without signing in."""

    user: User
    zone: ZoneInfo


def _keys(request: Request) -> AnswerLinks:
    keys: AnswerLinks | None = getattr(request.app.state, "answer_links", None)
    if keys is None:
        keys = AnswerLinks(app_settings(request).resolved_secret_key())
        request.app.state.answer_links = keys
    return keys


def _void(request: Request, status: int, message: str, viewer: Viewer | None) -> Response:
    context = {"title": _("This link no longer works") + " · meetbook", "message": message}
    return render(request, "answer_void.html", context, viewer=viewer, status_code=status)


@dataclass(frozen=True)
class _Opened:
    grant: AnswerGrant
    meeting: Meeting
    user: User


async def _open(
    request: Request,
    session: AsyncSession,
    token: str,
    action: str,
    viewer: Viewer | None,
    now: datetime,
) -> _Opened | Response:
    """The link's grant, meeting and reader while it works; else the page saying why."""
    grant = _keys(request).grant(token)
    if grant is None or action not in LINK_ACTIONS:
        return _void(request, 400, _(INVALID), viewer)
    if viewer is not None and viewer.user.id != grant.user_id:
        return _void(request, 403, _(NOT_YOURS, name=viewer.user.name), viewer)
    user = await session.get(User, grant.user_id)
    if viewer is None and user is not None:
        # Signed out, the link's reader is its addressee: their page speaks their language.
        use_locale(user.locale)
    meeting = await session.get(Meeting, grant.meeting_id)
    why = await answer_links.why_void(session, grant, token, meeting, now)
    if why is not None or meeting is None or user is None:
        return _void(request, 410, why or _(INVALID), viewer)
    return _Opened(grant, meeting, user)


async def _page(
    request: Request,
    session: AsyncSession,
    opened: _Opened,
    action: LinkAction,
    viewer: Viewer | None,
    now: datetime,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    view = await _view(session, opened, now)
    key = (action, opened.grant.status)
    context: dict[str, Any] = {
        "title": f"{_(_TITLES[key])} · meetbook",
        "heading": _(_TITLES[key]),
        "button": _(_BUTTONS[key]),
        "action": action,
        "m": view,
        "values": values or {},
        "error": error,
        "max_reason": MAX_REASON_LENGTH,
    }
    return render(request, "answer.html", context, viewer=viewer, status_code=status_code)


async def _view(session: AsyncSession, opened: _Opened, now: datetime) -> MeetingView:
    reader = LinkReader(opened.user, resolve_zone(opened.user.timezone))
    return (await meeting_views(session, [opened.meeting], reader, now))[0]


@router.get("/answer/{token}/{action}")
async def answer_page(
    request: Request, token: str, action: str, session: SessionDep, viewer: MaybeViewer, now: Now
) -> Response:
    """The meeting and one button; opening the link changes nothing."""
    opened = await _open(request, session, token, action, viewer, now)
    if isinstance(opened, Response):
        return opened
    return await _page(request, session, opened, action, viewer, now)  # type: ignore[arg-type]


@router.post("/answer/{token}/{action}")
async def answer(
    request: Request, token: str, action: str, session: SessionDep, viewer: MaybeViewer, now: Now
) -> Response:
    """Take the link's action as the participant it was sent to; the link is then used."""
    opened = await _open(request, session, token, action, viewer, now)
    if isinstance(opened, Response):
        return opened
    link: LinkAction = action  # type: ignore[assignment]
    form = await request.form()
    values = {
        key: value.strip()
        for key, value in form.items()
        if isinstance(value, str) and key in ("date", "reason")
    }
    name = opened.grant.machine_action(link)
    try:
        # A savepoint: a refused change leaves neither the change nor the link's use.
        async with session.begin_nested():
            await answer_links.record_use(session, opened.grant, token, now)
            if name == "propose":
                body = validate_body(ProposeBody, values)
                await service.propose_time(
                    session, opened.meeting, opened.user, body.date, body.reason, now
                )
            else:
                reason = validate_body(ReasonBody, {"reason": values.get("reason")}).reason
                await service.change_meeting(
                    session, opened.meeting.id, opened.user, name, now, reason
                )
    except ApiError as error:
        log.info("web.answer_link.refused", extra={"meeting_id": opened.meeting.id})
        await session.refresh(opened.meeting)
        return await _page(
            request,
            session,
            opened,
            link,
            viewer,
            now,
            values=values,
            error=error.message[:1].upper() + error.message[1:],
            status_code=error.status,
        )
    log.info(
        "web.answer_link.used",
        extra={"meeting_id": opened.meeting.id, "by": opened.user.id, "action": name},
    )
    view = await _view(session, opened, now)
    done = _(_DONE[name], other=view.other_name, when=view.proposal_when or view.when)
    context = {"title": _("Done") + " · meetbook", "message": done, "m": view}
    return render(request, "answer_done.html", context, viewer=viewer)
