"""Typed path and query parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from starlette.convertors import Convertor, register_url_convertor

# Ids are positive and fit a 64-bit column; anything else is a 400, never a database error.
IdPath = Annotated[int, Path(ge=1, lt=2**63, description="A positive id.")]


class _IdSegment(Convertor[str]):
    """A path segment that looks like an id (`{meeting_id:id}`); `IdPath` then checks it.

    Without it `/api/v3/meeting/{meeting_id}` also matches `GET /api/v3/meeting/create`
    and answers 400 for a bad id, where the right answer is 405 (that address takes
    POST). Signed numbers still reach the route, so `-1` stays a 400 naming the field.
    """

    regex = "-?[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("id", _IdSegment())
