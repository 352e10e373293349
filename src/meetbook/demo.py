"""Demo data for `meetbook serve --demo`: three people in one team, each with a token.

Tokens are stored hashed, so the plain demo tokens cannot be shown again from the
database. They are kept in a 0600 file beside the SQLite database (as the generated secret
key is; on PostgreSQL, in the working directory) and reused on every restart while they
still work; otherwise every restart minted three more.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import service as accounts
from meetbook.auth.tokens import hash_token, issue_token
from meetbook.config import Settings
from meetbook.models import ApiToken, Team, User

DEMO_PASSWORD = "tidy-lantern-orbit"
DEMO_TEAM = "Demo Team"
DEMO_PEOPLE = (
    ("Ana Lima", "ana@example.com", "Europe/Lisbon"),
    ("Ben Carter", "ben@example.com", "America/New_York"),
    ("Chitra Rao", "chitra@example.com", "Asia/Kolkata"),
)
TOKENS_FILE_NAME = "meetbook-demo-tokens.json"


@dataclass(frozen=True)
class DemoAccount:
    id: int
    name: str
    email: str
    timezone: str
    token: str


def tokens_file(settings: Settings) -> Path:
    """Where the demo tokens are kept: beside the SQLite file, else the working directory."""
    database = make_url(settings.database_url).database if settings.is_sqlite else None
    folder = Path(database).parent if database and database != ":memory:" else Path(".")
    return folder / TOKENS_FILE_NAME


def read_tokens(path: Path) -> dict[str, str]:
    """The kept tokens by email; nothing when the file is absent or not ours."""
    try:
        kept = json.loads(path.read_text())
        return {entry["email"]: entry["token"] for entry in kept["accounts"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_tokens(path: Path, team_id: int, people: Sequence[DemoAccount]) -> None:
    """Keep the plain tokens, readable by this user only (they are credentials)."""
    text = json.dumps({"team_id": team_id, "accounts": [asdict(p) for p in people]}, indent=2)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        file.write(text + "\n")


async def _still_works(session: AsyncSession, user_id: int, token: str) -> bool:
    found = await session.scalar(
        select(ApiToken.id).where(
            ApiToken.token_hash == hash_token(token),
            ApiToken.user_id == user_id,
            ApiToken.revoked_at.is_(None),
        )
    )
    return found is not None


async def ensure_demo_data(
    session: AsyncSession, kept: Mapping[str, str] | None = None
) -> tuple[int, list[DemoAccount]]:
    """Create (or reuse) the demo team and people; reuse each kept token that still works
    (`kept`: tokens by email) and issue a new one otherwise."""
    team = await session.scalar(select(Team).where(Team.name == DEMO_TEAM))
    if team is None:
        team = await accounts.create_team(session, DEMO_TEAM)
    accounts_out = []
    for index, (name, email, zone) in enumerate(DEMO_PEOPLE):
        # The first person is an instance admin and the team's admin (CONTRACT §1.8), so
        # the demo shows the team page's admin side.
        first = index == 0
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            user = await accounts.create_user(
                session,
                name=name,
                email=email,
                timezone=zone,
                password=DEMO_PASSWORD,
                is_admin=first,
            )
        await accounts.add_member(session, team.id, user.id, "admin" if first else "member")
        token = (kept or {}).get(email)
        if token is None or not await _still_works(session, user.id, token):
            token, _ = await issue_token(session, user.id, "demo")
        accounts_out.append(DemoAccount(user.id, user.name, user.email, zone, token))
    return team.id, accounts_out
