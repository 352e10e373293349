"""A webhook receiver on 127.0.0.1, as an integrator would write it with the reference
library: `Webhook(secret).verify` checks the signature and the timestamp's tolerance."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.notifications.http_peer import HttpPeer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any  # the verified JSON; None when verification failed
    refused: str | None  # why verification failed


@dataclass
class Receiver:
    """Verifies every request; answers `answers` in order, then 200.

    `hold` keeps each verified request waiting for `gate` (a receiver stuck mid-delivery).
    """

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    body: str = "ok"
    hold: bool = False
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[Received] = field(default_factory=list)
    peer: HttpPeer = field(default_factory=HttpPeer)

    @property
    def url(self) -> str:
        return f"{self.peer.base_url}/hooks"

    @property
    def verified(self) -> list[Received]:
        return [r for r in self.received if r.refused is None]

    async def start(self) -> None:
        self.peer.route("POST", "/hooks", self._handle)
        await self.peer.start()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as error:
            self.received.append(Received(headers, body, None, str(error)))
            return web.Response(status=400, text=str(error))
        self.received.append(Received(headers, body, payload, None))
        if self.hold:
            await self.gate.wait()
        status = self.answers.pop(0) if self.answers else 200
        return web.Response(status=status, text=self.body)
