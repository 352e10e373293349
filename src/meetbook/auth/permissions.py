"""Who may do what to a team: every route's authorization, decided here (CONTRACT §1.8).

One table, `RULES`, names each permission and who holds it. A route (API, web page or
not) asks `authorize(...)` before it acts. Teams are private: someone outside a team
gets 404 (the team is not revealed), a member without the power gets 403.

Instance admins (`users create --admin`) may create teams; they have no implicit power
over teams they are not an admin of (the CLI remains the operator's way in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.errors import Forbidden, NotFound
from meetbook.models import TeamMember, User

Permission = Literal[
    "team.create",  # POST /teams
    "team.view",  # a team's page, members, free slots
    "team.manage",  # rename, booking policy, invites, roles, removing others
    "member.remove",  # DELETE /teams/{id}/members/{user_id}: admins, or the member themself
]


@dataclass(frozen=True)
class Rule:
    instance_admin: bool = False
    team_member: bool = False
    team_admin: bool = False
    self_: bool = False  # the subject of the action is the caller
    refusal: str = "You may not do that."


RULES: dict[Permission, Rule] = {
    "team.create": Rule(instance_admin=True, refusal="Only an instance admin can create teams."),
    "team.view": Rule(team_member=True, team_admin=True),
    "team.manage": Rule(team_admin=True, refusal="Only an admin of this team can do that."),
    "member.remove": Rule(
        team_admin=True,
        self_=True,
        refusal="Only an admin of this team can remove someone else from it.",
    ),
}


def may_create_teams(user: User) -> bool:
    return bool(user.is_admin)


async def authorize(
    session: AsyncSession,
    user: User,
    permission: Permission,
    *,
    team_id: int | None = None,
    subject_id: int | None = None,
) -> TeamMember | None:
    """Raise unless `user` holds `permission` (on `team_id`, about `subject_id`).

    Returns the caller's membership of the team, when a team is named.
    """
    rule = RULES[permission]
    if team_id is None:
        if rule.instance_admin and user.is_admin:
            return None
        raise Forbidden(rule.refusal)
    membership = await session.get(TeamMember, (team_id, user.id))
    if membership is None:
        raise NotFound(f"Team {team_id} was not found.")
    if rule.team_admin and membership.role == "admin":
        return membership
    if rule.team_member:
        return membership
    if rule.self_ and subject_id == user.id:
        return membership
    raise Forbidden(rule.refusal)


async def role_in(session: AsyncSession, team_id: int, user_id: int) -> str | None:
    membership = await session.get(TeamMember, (team_id, user_id))
    return membership.role if membership else None
