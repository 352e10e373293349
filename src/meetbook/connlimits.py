"""uvicorn's HTTP protocol with a deadline and a size cap for request headers.

uvicorn closes a kept-alive connection that stays idle (`timeout_keep_alive`), but not
one that never sends a request, or sends its headers a byte at a time: each such socket
held a connection slot forever. And its httptools parser buffers a header line of any
length (13 MB went in without complaint). Here the headers of every request, the first
on a connection and each later one, must arrive within `HEADER_TIMEOUT_SECONDS` and
`MAX_HEADER_BYTES`. Bodies have their own deadline (slowbody.py).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_SECONDS = 10.0
MAX_HEADER_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` that closes connections whose headers are late or too large."""

    header_timeout = HEADER_TIMEOUT_SECONDS
    max_header_bytes = MAX_HEADER_BYTES

    _header_timer: asyncio.TimerHandle | None = None
    _awaiting_headers = False
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._awaiting_headers = True
        self._start_header_timer()  # a connection that never sends a request

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._stop_header_timer()
                self.send_400_response("The request headers are too large.")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # The first byte of a request: on a kept-alive connection the clock starts here.
        if self._header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._stop_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._awaiting_headers = True  # what arrives next is the next request's headers

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and not self.transport.is_closing():
            self.transport.close()
