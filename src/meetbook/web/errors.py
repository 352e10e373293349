"""Error pages: pages answer in HTML, while /api keeps the JSON envelope."""

from __future__ import annotations

import inspect
from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from meetbook.web.session import CsrfRefused, LoginRequired, Viewer
from meetbook.web.templating import render

CSRF_MESSAGE = (
    "This form has expired or did not come from a meetbook page, so nothing was changed. "
    "Go back, reload the page and try again."
)
_MESSAGES = {
    404: "There is nothing at this address. The meeting may not exist, or it is not one of yours.",
    405: "This address does not accept that kind of request.",
}
# Paths that belong to the JSON API or to tools: their errors stay in the envelope.
_NOT_PAGES = ("/api/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static/")


def error_page(request: Request, status: int, message: str, viewer: Viewer | None) -> Response:
    """An HTML error page. Routes return it (rather than raise) so that the viewer's
    objects are still attached to the request's session while the layout renders."""
    title = HTTPStatus(status).phrase
    context = {
        "title": f"{title} · meetbook",
        "status": status,
        "heading": title,
        "message": message,
    }
    return render(request, "error.html", context, viewer=viewer, status_code=status)


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(_NOT_PAGES):
        return False
    return "text/html" in request.headers.get("accept", "")


async def _login_required(_request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(f"/login?next={quote(error.next_path, safe='')}", status_code=303)


async def _csrf_refused(request: Request, _error: Exception) -> Response:
    return error_page(request, 403, CSRF_MESSAGE, None)


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)

    # A browser that opens an unknown address gets a page; everyone else, the envelope.
    json_handler = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code in _MESSAGES and wants_html(request):
            return error_page(request, error.status_code, _MESSAGES[error.status_code], None)
        assert json_handler is not None
        response = json_handler(request, error)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(StarletteHTTPException, http_error)
