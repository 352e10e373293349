"""Error pages: pages answer in HTML, while /api keeps the JSON envelope."""

from __future__ import annotations

import inspect
from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from meetbook.i18n import N_, _
from meetbook.web.session import CsrfRefused, LoginRequired, Viewer
from meetbook.web.templating import render

CSRF_MESSAGE = N_(
    "This form has expired or did not come from a meetbook page, so nothing was changed. "
    "Go back, reload the page and try again."
)
_MESSAGES = {
    404: N_(
        "There is nothing at this address. The meeting may not exist, or it is not one of yours."
    ),
    405: N_("This address does not accept that kind of request."),
}
_TITLES = {
    400: N_("Bad Request"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
}
# Paths that belong to the JSON API or to tools: their errors stay in the envelope.
_NOT_PAGES = ("/api/", "/docs", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static/")


def error_page(request: Request, status: int, message: str, viewer: Viewer | None) -> Response:
    """An HTML error page. Routes return it (rather than raise) so that the viewer's
    objects are still attached to the request's session while the layout renders."""
    title = _(_TITLES[status]) if status in _TITLES else HTTPStatus(status).phrase
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
    return error_page(request, 403, _(CSRF_MESSAGE), None)


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRefused, _csrf_refused)

    # A browser that opens an unknown address gets a page; everyone else, the envelope.
    json_handler = app.exception_handlers.get(StarletteHTTPException)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if error.status_code in _MESSAGES and wants_html(request):
            message = _(_MESSAGES[error.status_code])
            return error_page(request, error.status_code, message, None)
        assert json_handler is not None
        response = json_handler(request, error)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(StarletteHTTPException, http_error)
