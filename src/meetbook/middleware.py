"""ASGI middleware: the request body limit and the security headers."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbook.errors import error_body
from meetbook.headers import security_headers
from meetbook.i18n import DEFAULT_LOCALE, negotiate, speaking

MAX_BODY_BYTES = 64 * 1024


class _BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit.

    An HTTPException so that FastAPI, which reads bodies itself and turns other errors of
    reading into a 400, lets it through to the 413 handler.
    """

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


async def _send_error(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"The request body is larger than {self.limit // 1024} KiB."
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    await _send_error(send, 400, "The Content-Length header is not a number.")
                    return
                if too_big:
                    await _send_error(send, 413, message)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            incoming = await receive()
            if incoming["type"] == "http.request":
                received += len(incoming.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge(message)
            return incoming

        async def tracking_send(outgoing: Message) -> None:
            nonlocal started
            if outgoing["type"] == "http.response.start":
                started = True
            await send(outgoing)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_error(send, 413, message)


class SecurityHeadersMiddleware:
    """Add `security_headers` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = [(k.encode(), v.encode()) for k, v in security_headers(scope["path"]).items()]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in wanted if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class PageLocaleMiddleware:
    """Speak the browser's Accept-Language on pages (the signed-in viewer's `locale`
    replaces it, web/session.py); the JSON API and its files stay English."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        locale = DEFAULT_LOCALE
        if scope["type"] == "http" and not scope["path"].startswith("/api/"):
            header = dict(scope.get("headers", [])).get(b"accept-language", b"")
            locale = negotiate(header.decode("latin-1"))
        with speaking(locale):
            await self.app(scope, receive, send)
