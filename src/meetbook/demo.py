"""Demo data for `meetbook serve --demo`: three people in one team, each with a token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import service as accounts
from meetbook.auth.tokens import issue_token
from meetbook.models import Team, User

DEMO_PASSWORD = "tidy-lantern-orbit"
DEMO_TEAM = "Demo Team"
DEMO_PEOPLE = (
    ("Ana Lima", "ana@example.com", "Europe/Lisbon"),
    ("Ben Carter", "ben@example.com", "America/New_York"),
    ("Chitra Rao", "chitra@example.com", "Asia/Kolkata"),
)


@dataclass(frozen=True)
class DemoAccount:
    id: int
    name: str
    email: str
    timezone: str
    token: str


async def ensure_demo_data(session: AsyncSession) -> tuple[int, list[DemoAccount]]:
    """Create (or reuse) the demo team and people; issue each a fresh token."""
    team = await session.scalar(select(Team).where(Team.name == DEMO_TEAM))
    if team is None:
        team = await accounts.create_team(session, DEMO_TEAM)
    accounts_out = []
    for name, email, zone in DEMO_PEOPLE:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = await accounts.create_user(
                session, name=name, email=email, timezone=zone, password=DEMO_PASSWORD
            )
        await accounts.add_member(session, team.id, user.id)
        token, _ = await issue_token(session, user.id, "demo")
        accounts_out.append(DemoAccount(user.id, user.name, user.email, zone, token))
    return team.id, accounts_out
