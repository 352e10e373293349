"""Push devices, the VAPID key, a meeting's notifications and the dev mailbox.

CONTRACT §1.3 (`/meeting/{id}/notifications`), §1.4 (devices, VAPID) and §2 (`/dev/mailbox`).
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from meetbook.auth.deps import CurrentUser, current_user
from meetbook.clock import Now
from meetbook.config import Settings
from meetbook.db import SessionDep
from meetbook.errors import NotFound
from meetbook.meetings.endpoints import ERRORS
from meetbook.meetings.service import meeting_for_participant
from meetbook.models import DevEmail, Notification
from meetbook.notifications import devices
from meetbook.notifications.mailbox_page import email_html, mailbox_entry, render_mailbox
from meetbook.notifications.schemas import (
    DeviceOut,
    DeviceRegistration,
    FcmDevice,
    NotificationList,
    VapidPublicKey,
)
from meetbook.notifications.vapid import vapid_application_server_key
from meetbook.params import IdPath
from meetbook.web.session import Viewer, ViewerDep, require_viewer
from meetbook.web.templating import static_url

log = logging.getLogger("meetbook.notifications")
router = APIRouter()

MAILBOX_PAGE_SIZE = 50


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    # Any route may fail with 500 or find the database down (503).
    return {status: ERRORS[status] for status in (*statuses, 500, 503)}


@router.post(
    "/api/v3/devices",
    status_code=201,
    response_model=DeviceOut,
    responses=_errors(400, 401, 409, 413, 415, 429),
    tags=["devices"],
)
async def register_device(
    registration: DeviceRegistration, request: Request, session: SessionDep, user: CurrentUser
) -> dict[str, int]:
    """Register a push device; registering the same token again returns the same id."""
    body = registration.root
    if isinstance(body, FcmDevice):
        device = await devices.register_device(session, user.id, platform="fcm", token=body.token)
    else:
        settings: Settings = request.app.state.settings
        device = await devices.register_web_push(
            session,
            user.id,
            body.subscription,
            allow_private=settings.allow_private_targets,
            field="subscription.endpoint",
        )
    log.info(
        "device.registered",
        extra={"user_id": user.id, "device_id": device.id, "platform": body.platform},
    )
    return {"id": device.id}


@router.delete(
    "/api/v3/devices/{device_id}",
    status_code=204,
    response_class=Response,
    responses=_errors(400, 401, 404, 429),
    tags=["devices"],
)
async def delete_device(device_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Stop notifying a device of yours; anyone else's device is a 404."""
    await devices.remove_device(session, device_id, user.id)
    log.info("device.removed", extra={"user_id": user.id, "device_id": device_id})
    return Response(status_code=204)


@functools.cache
def _application_server_key(pem_path: Path) -> str:
    return vapid_application_server_key(pem_path)


@router.get(
    "/api/v3/push/vapid-public-key",
    response_model=VapidPublicKey,
    responses=_errors(401, 404, 429),
    dependencies=[Depends(current_user)],
    tags=["devices"],
)
async def vapid_public_key(request: Request) -> dict[str, str]:
    """The Web Push application server key for PushManager.subscribe(), when configured."""
    settings: Settings = request.app.state.settings
    if settings.vapid_private_key is None:
        raise NotFound("Web Push is not configured on this server.")
    return {"public_key": _application_server_key(settings.vapid_private_key)}


def _iso_z(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.get(
    "/api/v3/meeting/{meeting_id:id}/notifications",
    response_model=NotificationList,
    responses=_errors(400, 401, 404, 429),
    tags=["meetings"],
)
async def meeting_notifications(
    meeting_id: IdPath, session: SessionDep, user: CurrentUser, now: Now
) -> dict[str, Any]:
    """The notifications of a meeting you take part in, in the order they were recorded.

    Timed notices (reminders, the expiring nudge) are listed once due; one cancelled
    before it was sent (the meeting moved or was cancelled) is not listed."""
    await meeting_for_participant(session, meeting_id, user)
    not_yet_due = and_(
        Notification.schedule_key.is_not(None),
        Notification.status == "pending",
        Notification.attempts == 0,
        Notification.next_attempt_at > now,
    )
    rows = await session.scalars(
        # A team's webhook messages are the team admins' (their deliveries log), and a
        # linked calendar's copy is not a message to anyone: neither is a participant's
        # notification.
        select(Notification)
        .where(
            Notification.meeting_id == meeting_id,
            Notification.webhook_id.is_(None),
            Notification.channel != "caldav",
            Notification.status != "cancelled",
            ~not_yet_due,
        )
        .order_by(Notification.id)
    )
    data = [
        {
            "id": row.id,
            "event": row.event,
            "user_id": row.user_id,
            "channel": row.channel,
            "status": row.status,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "sent_at": _iso_z(row.sent_at),
            "created_at": _iso_z(row.created_at),
        }
        for row in rows
    ]
    return {"data": data}


def _require_dev_mailbox(request: Request) -> None:
    # With SMTP configured the mailbox does not exist: the same 404 as any unknown address.
    settings: Settings = request.app.state.settings
    if settings.smtp_host is not None:
        raise StarletteHTTPException(404)


# The mailbox exists only without SMTP (checked first, so it is a 404 even signed out), and
# only for signed-in people: it holds every email, with their links (CONTRACT §3).
_MAILBOX = [Depends(_require_dev_mailbox), Depends(require_viewer)]
# For an email's own HTML: what email HTML needs (inline styles, images from data: and
# https) and nothing else: no scripts, no plugins, no forms, framed only by the mailbox.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; "
    "font-src data: https:; form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def _visible_to(viewer: Viewer) -> ColumnElement[bool]:
    """Account emails (invites, resets) carry links that act for their reader: only that
    address and instance admins see them; every other email, any signed-in user."""
    if viewer.user.is_admin:
        return true()
    return or_(DevEmail.restricted_to.is_(None), DevEmail.restricted_to == viewer.user.email)


async def _kept_email(session: AsyncSession, email_id: int, viewer: Viewer) -> DevEmail | None:
    return await session.scalar(
        select(DevEmail).where(DevEmail.id == email_id, _visible_to(viewer))
    )


@router.get(
    "/dev/mailbox", response_class=HTMLResponse, include_in_schema=False, dependencies=_MAILBOX
)
async def dev_mailbox(
    session: SessionDep,
    viewer: ViewerDep,
    before: Annotated[
        int | None, Query(ge=1, lt=2**63, description="Show emails older than this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = MAILBOX_PAGE_SIZE,
) -> HTMLResponse:
    """The emails kept instead of sent while no SMTP host is configured, newest first."""
    query = (
        select(DevEmail).where(_visible_to(viewer)).order_by(DevEmail.id.desc()).limit(limit + 1)
    )
    if before is not None:
        query = query.where(DevEmail.id < before)
    rows = list(await session.scalars(query))
    older_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        older_url = f"/dev/mailbox?before={rows[-1].id}&limit={limit}"
    html = render_mailbox(
        [mailbox_entry(row) for row in rows],
        older_url=older_url,
        newest_url="/dev/mailbox" if before is not None else None,
        stylesheet=static_url("mailbox.css"),
        icon=static_url("icon.svg"),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/dev/mailbox/{email_id:int}.html", include_in_schema=False, dependencies=_MAILBOX)
async def dev_mailbox_html(email_id: IdPath, session: SessionDep, viewer: ViewerDep) -> Response:
    """One kept email's HTML part, for the mailbox's sandboxed frame."""
    row = await _kept_email(session, email_id, viewer)
    html = email_html(row) if row is not None else None
    if html is None:
        raise StarletteHTTPException(404)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": EMAIL_CSP,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        },
    )


@router.get("/dev/mailbox/{email_id:int}.eml", include_in_schema=False, dependencies=_MAILBOX)
async def dev_mailbox_email(email_id: IdPath, session: SessionDep, viewer: ViewerDep) -> Response:
    """One kept email as it would have been sent."""
    row = await _kept_email(session, email_id, viewer)
    if row is None:
        raise StarletteHTTPException(404)
    return Response(
        row.raw.encode(),
        media_type="message/rfc822",
        headers={
            "Content-Disposition": f'attachment; filename="meetbook-{email_id}.eml"',
            "Cache-Control": "no-store",
        },
    )
