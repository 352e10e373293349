"""ASGI middleware that counts and times every HTTP request by route template and status."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbook.metrics import HTTP_DURATION, HTTP_REQUESTS

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The label of requests no route answers (unknown paths): one series, whatever the path.
UNMATCHED = "unmatched"


def _leaf_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Routes with a path template, looking inside FastAPI's included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's include_router wrapper
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        elif isinstance(getattr(route, "path_format", None), str):
            yield route


def route_template(scope: Scope) -> str:
    """The path template of the route that took (or would take) the request."""
    route = scope.get("route")
    if route is None:
        # Refused before routing (a 413 from the body limit) or no route at all: find the
        # route the router would have picked, so a refusal still names its route.
        router = getattr(scope.get("app"), "router", None)
        for candidate in _leaf_routes(getattr(router, "routes", ())):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                route = candidate
                break
    # path_format drops the convertors: "/api/v3/meeting/{meeting_id}", not "{meeting_id:id}".
    path = getattr(route, "path_format", None)
    return path if isinstance(path, str) and path else UNMATCHED


class HttpMetricsMiddleware:
    """Record meetbook_http_requests and meetbook_http_request_duration_seconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # An exception that escapes becomes a 500 in Starlette's outermost handler.
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            labels = (method, route_template(scope), str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)
