"""The FastAPI application: routers, error handlers, middleware and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from meetbook import __version__
from meetbook.accounts.endpoints import router as accounts_router
from meetbook.accounts.people_endpoints import router as people_router
from meetbook.apidocs import install_api_docs
from meetbook.auth.tokencache import TokenCache
from meetbook.availability.endpoints import router as availability_router
from meetbook.clock import Clock
from meetbook.config import Settings, get_settings
from meetbook.db import create_engine, create_sessionmaker, settle
from meetbook.errors import install_error_handlers
from meetbook.httpmetrics import HttpMetricsMiddleware
from meetbook.meetings.endpoints import router as meetings_router
from meetbook.middleware import (
    BodyLimitMiddleware,
    PageLocaleMiddleware,
    SecurityHeadersMiddleware,
)
from meetbook.models import utcnow
from meetbook.notifications.endpoints import router as notifications_router
from meetbook.ops import router as ops_router
from meetbook.ratelimit import RateLimiter
from meetbook.slowbody import BodyTimeoutMiddleware
from meetbook.web import install_web
from meetbook.webhooks.endpoints import router as webhooks_router
from meetbook.zones import TZDATA_VERSION

log = logging.getLogger("meetbook.app")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "integer", "description": "The HTTP status code."},
        "message": {"type": "string", "description": "One human sentence."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


WORKER_SHUTDOWN_SECONDS = 10.0


class _Wake:
    """The after-commit hook's target; the worker is attached once it exists."""

    worker: Any = None

    def __call__(self) -> None:
        if self.worker is not None:
            self.worker.wake()


def create_app(
    settings: Settings | None = None, *, run_worker: bool = False, clock: Clock = utcnow
) -> FastAPI:
    settings = settings or get_settings()
    settings.resolved_secret_key()  # fail at start-up, not at the first request

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("app.starting", extra={"tzdata": TZDATA_VERSION, "run_worker": run_worker})
        engine = create_engine(settings)
        app.state.engine = engine
        if not run_worker:
            app.state.sessionmaker = create_sessionmaker(engine)
            app.state.token_cache.watch(app.state.sessionmaker)
            try:
                yield
            finally:
                await settle(app.state.sessionmaker)
                await engine.dispose()
            return
        from meetbook.notifications.worker import OutboxWorker, providers_from_settings

        wake = _Wake()
        app.state.sessionmaker = create_sessionmaker(engine, on_outbox_commit=wake)
        app.state.token_cache.watch(app.state.sessionmaker)
        providers = providers_from_settings(settings, app.state.sessionmaker)
        worker = OutboxWorker(app.state.sessionmaker, providers, settings)
        wake.worker = worker
        app.state.worker = worker
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield
        finally:
            stop.set()
            # Let in-flight deliveries finish; past that, the worker releases its leases.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, timeout=WORKER_SHUTDOWN_SECONDS)
            await providers.aclose()
            await settle(app.state.sessionmaker)
            await engine.dispose()

    app = FastAPI(
        title="meetbook",
        version=__version__,
        description="Meeting requests inside teams: request, confirm, reject, cancel, notify.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.run_worker = run_worker
    app.state.token_cache = TokenCache(settings.token_cache_seconds)
    # One limiter for the API and the web page (install_web keeps one that exists).
    if getattr(app.state, "rate_limiter", None) is None:
        app.state.rate_limiter = RateLimiter(settings.rate_limit_storage)
    install_error_handlers(app)
    app.include_router(meetings_router)
    app.include_router(accounts_router)
    app.include_router(people_router)
    app.include_router(availability_router)
    app.include_router(notifications_router)
    app.include_router(ops_router)
    app.include_router(webhooks_router)
    install_web(app)
    install_api_docs(app)
    app.add_middleware(PageLocaleMiddleware)
    app.add_middleware(BodyTimeoutMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(HttpMetricsMiddleware)  # outermost: times and counts every answer
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    # FastAPI documents its own 422 shape; every error here uses the envelope instead.
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses and "Idempotency" not in str(responses["422"].get("description")):
                responses.pop("422")
                responses.setdefault(
                    "400",
                    {
                        "description": "Invalid input",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                )
    for name in ("HTTPValidationError", "ValidationError"):
        schema["components"]["schemas"].pop(name, None)
    app.openapi_schema = schema
    return schema
