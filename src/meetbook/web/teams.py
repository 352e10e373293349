"""/teams and /teams/{id} (CONTRACT §3): members with their zone and local time; for team
admins, invites, roles, removal, the name and the booking policy.

Every action is a plain form posted back to the page; who may do it is decided by
`auth/permissions.py`, as for the API. The template leaves a place for more admin
sections (`team_sections`, e.g. webhooks) so features add a section, not a rewrite.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import links, people
from meetbook.accounts.service import teams_of
from meetbook.auth.permissions import authorize, may_create_teams
from meetbook.availability import service as availability
from meetbook.availability.schemas import TeamPatch
from meetbook.clock import Now
from meetbook.db import SessionDep
from meetbook.errors import ApiError, BadRequest
from meetbook.i18n import _, ngettext
from meetbook.jsonbody import validate_body
from meetbook.meetings.timeparse import resolve_zone
from meetbook.models import Team, TeamMember, User
from meetbook.timeformat import format_instant, format_when_short, zone_offset
from meetbook.web.errors import error_page
from meetbook.web.flash import Flash, add_flash
from meetbook.web.session import Viewer, ViewerDep, read_form
from meetbook.web.templating import render
from meetbook.web.webhooks import webhooks_section

log = logging.getLogger("meetbook.web")
router = APIRouter(include_in_schema=False)

# Admin sections other features add to the team page: (template, heading id). Each is
# included for team admins with the page's context.
TEAM_SECTIONS: list[str] = ["webhooks_section.html"]


@router.get("/teams")
async def teams_page(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    """Your teams; instance admins may create one."""
    teams = await teams_of(session, viewer.user.id)
    context = {
        "title": _("Teams") + " · meetbook",
        "nav": "teams",
        "teams": [{"id": t.id, "name": t.name, "role": role} for t, role in teams],
        "may_create": may_create_teams(viewer.user),
        "errors": defaultdict(str),
        "values": defaultdict(str),
    }
    return render(request, "teams.html", context, viewer=viewer)


@router.post("/teams")
async def create_team(request: Request, session: SessionDep, viewer: ViewerDep) -> Response:
    form = await read_form(request, viewer)
    try:
        await authorize(session, viewer.user, "team.create")
        team = await people.create_team_for(session, viewer.user, form.get("name", ""))
    except ApiError as error:
        return _back(request, "/teams", error)
    response = RedirectResponse(f"/teams/{team.id}", status_code=303)
    add_flash(request, response, Flash("success", _("Created the team %(team)s.", team=team.name)))
    return response


async def _team_page(
    request: Request,
    session: AsyncSession,
    viewer: Viewer,
    team_id: int,
    now: datetime,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        membership = await authorize(session, viewer.user, "team.view", team_id=team_id)
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    team = await session.get(Team, team_id)
    assert team is not None and membership is not None
    is_admin = membership.role == "admin"
    rows = await session.execute(
        select(User, TeamMember.role)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == team_id)
        .order_by(func.lower(User.name), User.id)
    )
    members = []
    for user, role in rows.tuples():
        zone = resolve_zone(user.timezone)
        members.append(
            {
                "id": user.id,
                "name": user.name,
                "email": user.email,
                "zone": zone.key,
                "offset": zone_offset(zone, now),
                "local_now": format_when_short(now, zone),
                "role": role,
                "is_you": user.id == viewer.user.id,
            }
        )
    invites = []
    if is_admin:
        invites = [
            {
                "id": invite.id,
                "email": invite.email,
                "role": invite.role,
                "expires": format_instant(invite.expires_at, viewer.zone),
            }
            for invite in await links.pending_invites(session, team_id, now)
        ]
    defaults = {
        "name": team.name,
        "min_notice_minutes": str(team.min_notice_minutes),
        "max_days_ahead": str(team.max_days_ahead),
        "invite_role": "member",
    }
    context: dict[str, Any] = {
        "title": f"{team.name} · meetbook",
        "nav": "teams",
        "team": team,
        "is_admin": is_admin,
        "members": members,
        "admins": sum(1 for m in members if m["role"] == "admin"),
        "invites": invites,
        "values": defaultdict(str, {**defaults, **(values or {})}),
        "errors": defaultdict(str, errors or {}),
        "sections": TEAM_SECTIONS if is_admin else [],
    }
    if is_admin:
        context.update(await webhooks_section(session, team.id, viewer))
    return render(request, "team.html", context, viewer=viewer, status_code=status_code)


@router.get("/teams/{team_id:int}")
async def team_page(
    request: Request, team_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    """A team: its members and, for its admins, how to run it."""
    return await _team_page(request, session, viewer, _id(team_id), now)


def _id(value: int) -> int:
    # Beyond a 64-bit id nothing exists; 0 matches nothing either.
    return value if 0 < value < 2**63 else 0


def _back(request: Request, target: str, error: ApiError) -> Response:
    """After a refused action: back to the page, saying why."""
    response = RedirectResponse(target, status_code=303)
    add_flash(request, response, Flash("error", error.message))
    return response


def _done(request: Request, team_id: int, text: str, anchor: str = "") -> Response:
    response = RedirectResponse(f"/teams/{team_id}{anchor}", status_code=303)
    add_flash(request, response, Flash("success", text))
    return response


async def _manage(
    request: Request, session: AsyncSession, viewer: Viewer, team_id: int
) -> Response | None:
    """None when the viewer is an admin of the team; else the page that says why not."""
    try:
        await authorize(session, viewer.user, "team.manage", team_id=_id(team_id))
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    return None


@router.post("/teams/{team_id:int}/settings")
async def save_team(
    request: Request, team_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    refused = await _manage(request, session, viewer, team_id)
    if refused is not None:
        return refused
    fields = ("name", "min_notice_minutes", "max_days_ahead")
    values = {field: form.get(field, "").strip() for field in fields}
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"name": values["name"] or None}
    for field in fields[1:]:
        try:
            body[field] = int(values[field])
        except ValueError:
            errors[field] = _("Enter a whole number.")
    if not values["name"]:
        errors["name"] = _("Enter the team's name.")
    if not errors:
        try:
            patch = validate_body(TeamPatch, body)
            await availability.update_team(session, team_id, viewer.user, patch)
        except BadRequest as error:
            for detail in error.details or [{"field": "name", "message": error.message}]:
                errors.setdefault(detail["field"], detail["message"].capitalize() + ".")
    if errors:
        return await _team_page(
            request, session, viewer, team_id, now, values=values, errors=errors, status_code=400
        )
    return _done(request, team_id, _("Saved the team's name and booking policy."), "#team-settings")


@router.post("/teams/{team_id:int}/invites")
async def invite(
    request: Request, team_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    form = await read_form(request, viewer)
    refused = await _manage(request, session, viewer, team_id)
    if refused is not None:
        return refused
    values = {
        "invite_email": form.get("email", "").strip()[:254],
        "invite_role": form.get("role") or "member",
    }
    try:
        created = await links.create_invite(
            session,
            team_id,
            values["invite_email"],
            values["invite_role"],
            by=viewer.user.id,
            now=now,
        )
    except ApiError as error:
        return await _team_page(
            request,
            session,
            viewer,
            team_id,
            now,
            values=values,
            errors={"invite_email": error.message},
            status_code=error.status,
        )
    return _done(
        request,
        team_id,
        _("Invited %(email)s: the sign-up link is on its way.", email=created.email),
        "#invites",
    )


@router.post("/teams/{team_id:int}/invites/{invite_id:int}/revoke")
async def revoke_invite(
    request: Request, team_id: int, invite_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    await read_form(request, viewer)
    refused = await _manage(request, session, viewer, team_id)
    if refused is not None:
        return refused
    try:
        await links.revoke_invite(session, team_id, _id(invite_id), now)
    except ApiError as error:
        return _back(request, f"/teams/{team_id}#invites", error)
    return _done(request, team_id, _("Withdrawn. That invite's link no longer works."), "#invites")


@router.post("/teams/{team_id:int}/members/{user_id:int}/role")
async def change_role(
    request: Request, team_id: int, user_id: int, session: SessionDep, viewer: ViewerDep
) -> Response:
    form = await read_form(request, viewer)
    refused = await _manage(request, session, viewer, team_id)
    if refused is not None:
        return refused
    try:
        membership = await people.set_role(session, team_id, _id(user_id), form.get("role", ""))
    except ApiError as error:
        return _back(request, f"/teams/{team_id}#members", error)
    user = await session.get(User, membership.user_id)
    name = user.name if user else _("The member")
    if membership.role == "admin":
        text = _("%(name)s is now an admin.", name=name)
    else:
        text = _("%(name)s is now a member.", name=name)
    return _done(request, team_id, text, "#members")


@router.post("/teams/{team_id:int}/members/{user_id:int}/remove")
async def remove_member(
    request: Request, team_id: int, user_id: int, session: SessionDep, viewer: ViewerDep, now: Now
) -> Response:
    await read_form(request, viewer)
    try:
        await authorize(
            session, viewer.user, "member.remove", team_id=_id(team_id), subject_id=user_id
        )
    except ApiError as error:
        return error_page(request, error.status, error.message, viewer)
    try:
        cancelled = await people.remove_member(
            session, team_id, _id(user_id), now, by=viewer.user.id
        )
    except ApiError as error:
        return _back(request, f"/teams/{team_id}#members", error)
    meetings = (
        " "
        + ngettext(
            "%(num)d of their meetings was cancelled.",
            "%(num)d of their meetings were cancelled.",
            cancelled,
        )
        if cancelled
        else ""
    )
    if user_id == viewer.user.id:
        response = RedirectResponse("/teams", status_code=303)
        add_flash(request, response, Flash("success", _("You left the team.") + meetings))
        return response
    return _done(request, team_id, _("Removed from the team.") + meetings, "#members")
