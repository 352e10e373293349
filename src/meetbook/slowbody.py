"""A deadline for request bodies: one that has not fully arrived in time gets a 408; a
client that hangs up mid-body is logged at INFO (`request.client_disconnected`).

uvicorn bounds idle keep-alive connections (server.py) but not a request whose body
trickles in. The database work of a route starts only after its body is read (db.py), so
a slow body no longer holds anything but its own socket and task; this deadline bounds
those too. 64 KiB (the body limit) in 30 s is about 17 kbit/s, slower than any network
a person still uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import suppress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meetbook.errors import error_body

BODY_TIMEOUT_SECONDS = 30.0

log = logging.getLogger("meetbook.slowbody")


class _BodyTimedOut(Exception):
    """Raised into the app when the deadline passes; the 408 has already been sent."""


class BodyTimeoutMiddleware:
    """Answer 408 when the request body has not fully arrived within `timeout` seconds.

    The clock starts when the request's headers have arrived. The 408 is sent from here,
    whatever the app makes of the exception it then receives from `receive` (FastAPI
    turns body-reading errors into a 400 of its own), and anything the app sends after
    it is dropped.
    """

    def __init__(self, app: ASGIApp, timeout: float = BODY_TIMEOUT_SECONDS) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout
        body_complete = False
        response_started = False
        timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_complete, timed_out
            if body_complete or timed_out:
                # After the body, receive() waits for the client to leave: no deadline.
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                log.info("request.body_timeout", extra={"path": scope.get("path")})
                if not response_started:
                    await _send_408(send)
                raise _BodyTimedOut from None
            if message["type"] == "http.disconnect":
                # The client hung up before its body arrived: nothing failed here. Logged
                # here because FastAPI reads declared bodies itself and turns this into
                # an answer of its own, which no one is left to read.
                log.info("request.client_disconnected", extra={"path": scope.get("path")})
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_complete = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if timed_out:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        # The 408 is out; the app's own answer to the exception was dropped.
        with suppress(_BodyTimedOut):
            await self.app(scope, timed_receive, guarded_send)


async def _send_408(send: Send) -> None:
    body = json.dumps(
        error_body(408, "The request body did not arrive in time; send it again.")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
