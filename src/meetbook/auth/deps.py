"""`CurrentUser`: the user behind the request's bearer token, or a 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from meetbook.auth.tokens import user_for_token
from meetbook.db import SessionDep
from meetbook.errors import Unauthorized
from meetbook.models import ApiToken, User

_bearer = HTTPBearer(auto_error=False, description="An API token from POST /api/v3/auth/token")


async def current_token(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, ApiToken]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    found = await user_for_token(session, credentials.credentials)
    if found is None:
        raise Unauthorized("The bearer token is unknown or has been revoked.")
    request.state.user_id = found[0].id
    request.state.token_id = found[1].id
    return found


async def current_user(found: Annotated[tuple[User, ApiToken], Depends(current_token)]) -> User:
    return found[0]


CurrentUser = Annotated[User, Depends(current_user)]
CurrentToken = Annotated[tuple[User, ApiToken], Depends(current_token)]
