"""The account commands of `meetbook` (CONTRACT §4): users, teams, tokens.

Each takes the parsed arguments and a session (one transaction, committed by the CLI)
and returns what to print: one JSON object, or a list printed as JSON lines.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.accounts import people
from meetbook.accounts import service as accounts
from meetbook.auth.tokens import active_tokens, issue_token, revoke_token
from meetbook.errors import BadRequest, NotFound
from meetbook.meetings.timeparse import is_valid_zone
from meetbook.models import ApiToken, Team, TeamMember, User, utcnow
from meetbook.text import MAX_TOKEN_NAME_LENGTH, clean_line

Output = dict[str, Any] | list[dict[str, Any]]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


async def run(session: AsyncSession, args: argparse.Namespace, password: str | None) -> Output:
    """Run `args` (a users, teams or tokens command); `password` for set-password."""
    command = f"{args.command} {getattr(args, f'{args.command}_command')}"
    match command:
        case "users create":
            if args.timezone is not None and not is_valid_zone(args.timezone):
                raise BadRequest(f"--timezone: {args.timezone!r} is not an IANA timezone name.")
            user = await accounts.create_user(
                session,
                name=args.name,
                email=args.email,
                timezone=args.timezone,
                password=args.password,
                is_admin=args.admin,
            )
            return {"id": user.id}
        case "users list":
            users = await session.scalars(select(User).order_by(User.id))
            return [
                {
                    "id": u.id,
                    "name": u.name,
                    "email": u.email,
                    "timezone": u.timezone,
                    "admin": u.is_admin,
                    "active": u.deactivated_at is None,
                    "has_password": u.password_hash is not None,
                }
                for u in users
            ]
        case "users set-password":
            user = await _user(session, args.user)
            assert password is not None
            await people.set_password(session, user, password, utcnow())
            return {"id": user.id, "password_set": True}
        case "users deactivate":
            cancelled = await people.deactivate_user(session, args.user, utcnow())
            return {"id": args.user, "deactivated": True, "cancelled_meetings": cancelled}
        case "teams create":
            return {"id": (await accounts.create_team(session, args.name)).id}
        case "teams add-member":
            await accounts.add_member(session, args.team, args.user, args.role)
            return {"team_id": args.team, "user_id": args.user, "role": args.role}
        case "teams list":
            counts = (
                select(TeamMember.team_id, func.count().label("members"))
                .group_by(TeamMember.team_id)
                .subquery()
            )
            rows = await session.execute(
                select(Team, func.coalesce(counts.c.members, 0))
                .outerjoin(counts, counts.c.team_id == Team.id)
                .order_by(Team.id)
            )
            return [{"id": t.id, "name": t.name, "members": n} for t, n in rows.tuples()]
        case "teams members":
            if await session.get(Team, args.team) is None:
                raise NotFound(f"Team {args.team} does not exist.")
            rows = await session.execute(
                select(User, TeamMember.role)
                .join(TeamMember, TeamMember.user_id == User.id)
                .where(TeamMember.team_id == args.team)
                .order_by(User.id)
            )
            return [
                {"id": u.id, "name": u.name, "email": u.email, "timezone": u.timezone, "role": r}
                for u, r in rows.tuples()
            ]
        case "teams remove-member":
            cancelled = await people.remove_member(session, args.team, args.user, utcnow(), by=None)
            return {"team_id": args.team, "user_id": args.user, "cancelled_meetings": cancelled}
        case "tokens create":
            await _user(session, args.user)
            name = clean_line(args.name, "--name", MAX_TOKEN_NAME_LENGTH, required=False)
            token, row = await issue_token(session, args.user, name or "CLI token")
            return {"token": token, "id": row.id}
        case "tokens list":
            await _user(session, args.user)
            return [
                {
                    k: _iso(v) if k.endswith("_at") else v
                    for k, v in people.credential_view(t).items()
                }
                for t in await active_tokens(session, args.user, utcnow())
            ]
        case "tokens revoke":
            found = await session.get(ApiToken, args.id)
            if found is None or not await revoke_token(session, found.id, found.user_id):
                raise NotFound(f"Token {args.id} does not exist or is already revoked.")
            return {"id": args.id, "revoked": True}
    raise BadRequest(f"unknown command {command}")
