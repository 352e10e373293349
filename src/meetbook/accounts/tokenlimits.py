"""Limits on minting API tokens: a throttle per user and a cap on live tokens.

Each token carries its own API rate allowance, so tokens minted without limit would
multiply it (100 were minted in 1.35 s before these limits). Web sessions are not
counted: signing in is limited on its own, and a cap there would lock people out.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.auth.deps import throttle
from meetbook.auth.tokens import KIND_API, still_valid
from meetbook.config import Settings
from meetbook.errors import Conflict
from meetbook.models import ApiToken, utcnow

MAX_LIVE_TOKENS = 50


async def check_new_token(request: Request, session: AsyncSession, user_id: int) -> None:
    """Before a new API token for `user_id`: 429 when minting too fast, 409 at the cap."""
    settings: Settings = request.app.state.settings
    await throttle(request, settings.rate_limit_token_create, "token-create", str(user_id))
    live = await session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.kind == KIND_API, still_valid(utcnow()))
    )
    if (live or 0) >= MAX_LIVE_TOKENS:
        raise Conflict(
            f"You already have {MAX_LIVE_TOKENS} active API tokens, the most allowed; "
            "revoke one you no longer use on the settings page before creating another."
        )
