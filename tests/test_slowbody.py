"""Slow and vanishing clients: a trickling body holds nothing, is cut off, and is no error."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from meetbook.slowbody import BodyTimeoutMiddleware
from tests.conftest import Person, World
from tests.live_server import dribble, live_server

BODY = b'{"name": "Slow Sam the dribbler"}'


def _patch_me_head(person: Person, length: int) -> str:
    return (
        "PATCH /api/v3/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {person.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )


async def _timed(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> float:
    started = time.perf_counter()
    response = await http.request(method, url, **kwargs)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def test_a_dribbled_body_blocks_no_one_else(app: Any, world: World) -> None:
    slow, other = await world.person("Slow"), await world.person("Other")
    await world.team(slow, other)
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as http,
    ):
        port = urlsplit(base_url).port
        assert port is not None
        stop = asyncio.Event()
        sender = asyncio.create_task(
            dribble(port, _patch_me_head(slow, len(BODY)), BODY, every=0.5, stop=stop)
        )
        try:
            await asyncio.sleep(1.2)  # signed in, two bytes of the body sent
            pool = app.state.engine.sync_engine.pool
            # Nothing held for the slow client: no transaction, no pooled connection.
            assert pool.checkedout() == 0
            # Before, its token lookup held SQLite's write lock until the body was in:
            # these waited for the whole body (or 30 s), on SQLite; on PostgreSQL each
            # slow client held a pooled connection (the assertion above).
            for method, url, body in [
                ("GET", "/api/v3/me", None),
                ("GET", "/api/v3/meeting/list", None),
                ("PATCH", "/api/v3/me", {"name": "Other Olga"}),
            ]:
                elapsed = await asyncio.wait_for(
                    _timed(http, method, url, headers=other.auth, json=body), timeout=5
                )
                assert elapsed < 2.0, (method, url, elapsed)
            assert not sender.done()  # the slow client was still sending all along
        finally:
            stop.set()
            writer = await sender
            writer.close()


async def test_a_body_that_arrives_too_slowly_gets_408(app: Any, world: World) -> None:
    slow = await world.person("Slow")
    # The app's own middleware allows 30 s; an outer one with a short deadline is the
    # same code on a test's time scale.
    async with live_server(BodyTimeoutMiddleware(app, timeout=1.0)) as base_url:
        port = urlsplit(base_url).port
        assert port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_patch_me_head(slow, len(BODY)).encode() + BODY[:3])
        await writer.drain()
        started = time.perf_counter()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
    assert time.perf_counter() - started < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body) == {
        "error": 408,
        "message": "The request body did not arrive in time; send it again.",
    }


async def test_a_client_that_hangs_up_mid_body_is_logged_as_info_not_an_error(
    app: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    slow = await world.person("Slow")
    caplog.set_level(logging.INFO)
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as http,
    ):
        port = urlsplit(base_url).port
        assert port is not None
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_patch_me_head(slow, len(BODY)).encode() + BODY[:5])
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()
        await writer.wait_closed()
        for _ in range(100):
            if any(r.getMessage() == "request.client_disconnected" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        assert (await http.get("/healthz")).status_code == 200
    disconnected = [r for r in caplog.records if r.getMessage() == "request.client_disconnected"]
    assert [r.levelno for r in disconnected] == [logging.INFO]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
