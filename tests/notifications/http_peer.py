"""A tiny aiohttp server on 127.0.0.1 that records requests and plays back canned answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes


@dataclass
class HttpPeer:
    """Routes are added before start(); every request is recorded in order."""

    requests: list[Recorded] = field(default_factory=list)
    _app: web.Application = field(default_factory=web.Application)
    _runner: web.AppRunner | None = None
    port: int = 0

    def route(self, method: str, path: str, handler: Handler) -> None:
        async def recording(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            self.requests.append(Recorded(request.method, request.path, request.headers, body))
            return await handler(request)

        self._app.router.add_route(method, path, recording)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
