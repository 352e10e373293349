"""`CurrentUser`: the user behind the request's bearer token, or a 401 (or a 429)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meetbook.auth.tokens import lookup_token
from meetbook.config import RATE_LIMIT_OFF, Settings
from meetbook.db import SessionDep
from meetbook.errors import TooManyRequests, Unauthorized
from meetbook.models import ApiToken, User
from meetbook.ratelimit import RateLimiter, retry_after_header

_bearer = HTTPBearer(auto_error=False, description="An API token from POST /api/v3/auth/token")


async def throttle(request: Request, rule: str, *keys: str) -> None:
    """Count one hit of `rule` for `keys`; a 429 with Retry-After once it is exceeded."""
    if rule == RATE_LIMIT_OFF:
        return
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = await limiter.hit(rule, *keys)
    if wait is not None:
        retry_after = retry_after_header(wait)
        raise TooManyRequests(
            f"Too many requests; try again in {retry_after} seconds.",
            headers={"Retry-After": retry_after},
        )


async def current_token(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, ApiToken]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    # Looked up in a short transaction of its own: the route's session begins only at its
    # first statement, so nothing is held while the route waits for the request body.
    found = await lookup_token(
        request.app.state.sessionmaker,
        session,
        credentials.credentials,
        cache=getattr(request.app.state, "token_cache", None),
    )
    if found is None:
        raise Unauthorized("The bearer token is unknown or has been revoked.")
    request.state.user_id = found[0].id
    request.state.token_id = found[1].id
    # Keyed by the token's id, so the plain token never reaches the limiter's storage.
    settings: Settings = request.app.state.settings
    await throttle(request, settings.rate_limit_api, "api-token", str(found[1].id))
    return found


async def current_user(found: Annotated[tuple[User, ApiToken], Depends(current_token)]) -> User:
    return found[0]


CurrentUser = Annotated[User, Depends(current_user)]
CurrentToken = Annotated[tuple[User, ApiToken], Depends(current_token)]
