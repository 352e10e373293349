"""The server-rendered web page: sign-in, meetings, request form, settings (CONTRACT §3).

Every action is a plain form (POST, then redirect, then GET) protected by a CSRF token;
`static/app.js` only makes some of them quicker. Times are shown in the viewer's zone.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from meetbook.config import Settings
from meetbook.ratelimit import RateLimiter
from meetbook.web import accounts, answer, auth, meetings, settings, teams, webhooks
from meetbook.web.errors import install_page_errors
from meetbook.web.session import WebKeys
from meetbook.web.templating import STATIC_DIR


async def service_worker() -> FileResponse:
    """The service worker, served from the root so that its scope is the whole site."""
    return FileResponse(
        STATIC_DIR / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


def install_web(app: FastAPI) -> None:
    """Mount the page's routes and static files on `app`."""
    config: Settings = app.state.settings
    app.state.web_keys = WebKeys(config.resolved_secret_key())
    if getattr(app.state, "rate_limiter", None) is None:
        app.state.rate_limiter = RateLimiter(config.rate_limit_storage)
    app.include_router(auth.router)
    app.include_router(meetings.router)
    app.include_router(settings.router)
    app.include_router(teams.router)
    app.include_router(accounts.router)
    app.include_router(webhooks.router)
    app.include_router(answer.router)
    app.add_api_route("/sw.js", service_worker, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_page_errors(app)
