"""The request's notion of "now", replaceable in tests that need time to pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from meetbook.models import utcnow

Clock = Callable[[], datetime]


async def request_now(request: Request) -> datetime:
    # async, not def: FastAPI runs a plain-def dependency in its thread pool, and that
    # hop cost about 0.1 ms of CPU on every request (docs/benchmarks.md).
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(request_now)]
