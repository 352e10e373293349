"""A real uvicorn serving an app object on a free loopback port, in the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def live_server(app: Any, **options: Any) -> AsyncIterator[str]:
    """Serve `app` (its lifespan already running) and yield its base URL.

    `options` are more uvicorn.Config arguments.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_level="warning", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def dribble(
    port: int, head: str, body: bytes, *, every: float, stop: asyncio.Event
) -> asyncio.StreamWriter:
    """Send `head` (request line and headers), then `body` one byte per `every` seconds.

    Stops early (leaving the connection open) once `stop` is set.
    """
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    for byte in body:
        if stop.is_set():
            break
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(every)
    return writer
