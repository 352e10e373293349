"""Connections whose request headers are late or too large are closed."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from meetbook.connlimits import BoundedHttpToolsProtocol
from meetbook.server import UVICORN_LIMITS
from tests.live_server import live_server


class QuickHeaderDeadline(BoundedHttpToolsProtocol):
    header_timeout = 1.0  # the production value is 10 s


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = urlsplit(base_url).port
    assert port is not None
    return await asyncio.open_connection("127.0.0.1", port)


def test_meetbook_serves_with_the_bounded_protocol() -> None:
    assert UVICORN_LIMITS["http"] == "meetbook.connlimits:BoundedHttpToolsProtocol"
    assert UVICORN_LIMITS["timeout_keep_alive"] <= 10


async def test_silent_and_half_sent_requests_are_closed_at_the_header_deadline() -> None:
    async with live_server(echo, http=QuickHeaderDeadline) as base_url:
        for first_bytes in (b"", b"GET / HTTP/1.1\r\nHost: x\r\n"):
            reader, writer = await _connect(base_url)
            writer.write(first_bytes)
            await writer.drain()
            started = time.perf_counter()
            # Before, uvicorn kept both open for as long as the client liked.
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""
            assert 0.5 < time.perf_counter() - started < 5
            writer.close()


async def test_a_slow_body_and_a_later_request_on_the_connection_are_not_cut() -> None:
    async with live_server(echo, http=QuickHeaderDeadline) as base_url:
        reader, writer = await _connect(base_url)
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        for byte in b"hello":  # 2.5 s of body: the body's deadline is slowbody.py's
            await asyncio.sleep(0.5)
            writer.write(bytes([byte]))
            await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"hello"), timeout=10)
        assert answer.startswith(b"HTTP/1.1 200")
        await asyncio.sleep(1.5)  # idle past the header deadline, within keep-alive
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert second.startswith(b"HTTP/1.1 200")
        writer.close()


async def test_oversized_request_headers_get_400() -> None:
    async with live_server(echo, http=QuickHeaderDeadline) as base_url:
        reader, writer = await _connect(base_url)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        assert answer.startswith(b"HTTP/1.1 400")
        assert answer.endswith(b"The request headers are too large.")
        writer.close()
