"""Operations routes: liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from meetbook.errors import error_response
from meetbook.metrics import exposition, refresh_queue_depth
from meetbook.zones import TZDATA_VERSION

router = APIRouter(tags=["operations"])

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Database unreachable", "content": _ERROR}
}
_FAILED: dict[int | str, dict[str, Any]] = {
    500: {"description": "Unexpected server error", "content": _ERROR}
}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up; `tzdata` is the IANA time zone release it uses."""
    return {"status": "ok", "tzdata": TZDATA_VERSION}


@router.get("/readyz", responses={**_UNAVAILABLE, **_FAILED})
async def readyz(request: Request) -> JSONResponse:
    """The database answers."""
    try:
        async with asyncio.timeout(3):
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception:
        return error_response(503, "The database is not reachable.")
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response, responses={**_UNAVAILABLE, **_FAILED})
async def metrics(request: Request) -> Response:
    """Prometheus metrics: notifications by channel and outcome, queue depth, latency, and
    HTTP requests by route and status; with `serve --workers N`, the sum over the processes.
    """
    await refresh_queue_depth(request.app.state.sessionmaker)
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
