"""One error type, one handler: every non-2xx answer is `{"error": status, "message": ...}`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from meetbook.headers import security_headers

log = logging.getLogger("meetbook.errors")


class ApiError(Exception):
    status = 400

    def __init__(
        self,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str = "A valid bearer token is required.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class Unprocessable(ApiError):
    status = 422


class TooManyRequests(ApiError):
    status = 429


class ServiceUnavailable(ApiError):
    status = 503


def error_body(
    status: int, message: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": status, "message": message}
    if details:
        body["details"] = details
    return body


def error_response(
    status: int,
    message: str,
    *,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, details), status_code=status, headers=headers)


_STARLETTE_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This method is not allowed here.",
}


# A body model may refuse its input as a whole with one of the contract's sentences, e.g.
# create's "user_id, team_id, and date are required": it raises
# `PydanticCustomError(SENTENCE_ERROR, "<the sentence>")`, and the answer is that sentence.
SENTENCE_ERROR = "meetbook_sentence"
NOT_AN_OBJECT = "The request body must be a JSON object."
NOT_JSON = "Send the body as JSON with Content-Type: application/json."
# FastAPI's answer when reading the JSON fails other than by a syntax error (nesting too
# deep for the parser, bytes that are not UTF-8).
_FASTAPI_DETAILS = {"There was an error parsing the body": NOT_AN_OBJECT}
# What Pydantic (through FastAPI) reports when the body as a whole is not an object.
_WHOLE_BODY_ERRORS = frozenset({"missing", "model_type", "model_attributes_type", "dict_type"})


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def invalid_input(errors: Iterable[Mapping[str, Any]]) -> ApiError:
    """The contract's answer to Pydantic's (or FastAPI's) validation errors.

    - a model's SENTENCE_ERROR: that sentence alone;
    - a body that is not a JSON object: 400 saying so, or 415 when it was not sent as
      JSON at all (FastAPI then hands the model the raw bytes);
    - bad body fields: "Invalid value for <fields>: <first reason>." with one detail per
      field; bad query, path or header parameters: "Some parameters are invalid: ...".
    """
    items = list(errors)
    for item in items:
        if item.get("type") == SENTENCE_ERROR:
            return BadRequest(str(item.get("msg")))
    for item in items:
        # About the body as a whole: its location is ("body",), or () from validate_body;
        # a JSON syntax error is located at ("body", <character offset>).
        whole_body = not [part for part in item.get("loc", ()) if part != "body"]
        if item.get("type") == "json_invalid" or (
            whole_body and item.get("type") in _WHOLE_BODY_ERRORS
        ):
            if isinstance(item.get("input"), bytes):
                return UnsupportedMediaType(NOT_JSON)
            return BadRequest(NOT_AN_OBJECT)
    details = [
        {
            "field": _field_name(item.get("loc", ())),
            "message": str(item.get("msg", "is invalid")).removeprefix("Value error, "),
        }
        for item in items
    ]
    fields = ", ".join(dict.fromkeys(d["field"] for d in details))
    if all(not item.get("loc") or item["loc"][0] == "body" for item in items):
        first = details[0]["message"] if details else "is invalid"
        return BadRequest(f"Invalid value for {fields}: {first}.", details=details)
    return BadRequest(f"Some parameters are invalid: {fields}.", details=details)


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message, details=error.details, headers=error.headers)


def allowed_methods(request: Request) -> str | None:
    """Every method some route takes at this path, for a 405's `Allow` header.

    FastAPI makes one route per method, and Starlette's 405 names only the methods of the
    first route whose path matched: `OPTIONS /api/v3/me` said `Allow: GET` without PATCH.
    """
    methods: set[str] = set()
    for route in _flat_routes(request.app.router.routes):
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return ", ".join(sorted(methods)) or None


def _flat_routes(routes: list[Any]) -> list[Any]:
    # FastAPI >= 0.13x keeps included routers as nodes; older versions copy their routes.
    try:
        from fastapi.routing import iter_route_contexts  # type: ignore[attr-defined,unused-ignore]
    except ImportError:  # pragma: no cover - older FastAPI
        return routes
    return list(iter_route_contexts(routes))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    status = error.status_code
    if error.detail in _FASTAPI_DETAILS:
        message = _FASTAPI_DETAILS[error.detail]
    elif isinstance(error.detail, str) and error.detail and status not in _STARLETTE_MESSAGES:
        message = error.detail
    else:
        message = _STARLETTE_MESSAGES.get(status) or f"{HTTPStatus(status).phrase}."
    headers = dict(error.headers) if error.headers else None
    if status == 405:
        allow = allowed_methods(request)
        if allow:
            headers = {**(headers or {}), "Allow": allow}
    return error_response(status, message, headers=headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return await _api_error(request, invalid_input(error.errors()))


async def _integrity_error(_request: Request, error: Exception) -> JSONResponse:
    # A constraint the service did not anticipate (a race lost on a unique key, say):
    # the request conflicted with concurrent work and nothing was written.
    log.warning("db.integrity_error", extra={"error": str(error.__cause__ or error)[:300]})
    return error_response(409, "This request conflicts with a concurrent change; try again.")


async def _database_down(_request: Request, error: Exception) -> JSONResponse:
    log.error("db.unavailable", extra={"error": type(error).__name__})
    return error_response(
        503,
        "The database is unavailable right now; try again shortly.",
        headers={"Retry-After": "5"},
    )


async def _client_disconnected(_request: Request, _error: Exception) -> JSONResponse:
    # The client hung up before its body arrived: nothing failed here, and no one is left
    # to read this answer (slowbody.py logs it, at INFO).
    return error_response(400, "The client closed the connection before the request arrived.")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Starlette answers unhandled errors from its outermost middleware, outside ours, so
    # this response would otherwise go out without the security headers.
    log.exception("request.unexpected_error", exc_info=error)
    return error_response(
        500,
        "Something went wrong on our side; the request was not completed.",
        headers=security_headers(request.url.path),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(DBAPIError, _database_down)
    app.add_exception_handler(TimeoutError, _database_down)
    # No pooled connection freed up within db_timeout: SQLAlchemy's own TimeoutError, which
    # is not the builtin one and would otherwise be a 500.
    app.add_exception_handler(PoolTimeoutError, _database_down)
    app.add_exception_handler(OSError, _database_down)
    app.add_exception_handler(ClientDisconnect, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected)
