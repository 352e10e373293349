"""The request's notion of "now", replaceable in tests that need time to pass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from meetbook.models import utcnow

Clock = Callable[[], datetime]


def request_now(request: Request) -> datetime:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(request_now)]
