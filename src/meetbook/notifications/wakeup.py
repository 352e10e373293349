"""Waking the PostgreSQL workers after a commit that wrote outbox rows (`NOTIFY`).

The `NOTIFY` is sent after the commit, on a connection of its own, not inside the
writing transaction: PostgreSQL serializes the commits of notifying transactions on one
database-wide lock held through their WAL flush, so notifying writes could not share an
fsync (no group commit). Sent afterwards, the writes commit in parallel again.

The `NOTIFY`s go through a connection of their own (one per process, opened at the first
one), not through the request pool: a wake-up never waits for a pooled connection, and
requests never wait behind a wake-up when the pool is exhausted.

Per process, at most one `NOTIFY` is in flight; commits made while it is under way ask
for one more, sent when it ends (it must start after their commit to wake a worker
that would otherwise claim before their rows were visible). A burst of N commits thus
costs two `NOTIFY`s, not N. The `NOTIFY`'s own transaction commits with
`synchronous_commit` off: it writes no data, and a wake-up lost in a crash costs at most
one poll interval (workers poll every second on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from meetbook.notifications.outbox import NOTIFY_CHANNEL

log = logging.getLogger("meetbook.outbox")

# Seconds a NOTIFY may take to connect or run before it is given up (workers poll anyway).
SEND_TIMEOUT = 10.0
# One round trip (simple query protocol): the three statements run as one transaction.
NOTIFY_SQL = f"BEGIN; SET LOCAL synchronous_commit TO off; NOTIFY {NOTIFY_CHANNEL}; COMMIT"


class WorkerWakeUp:
    """Sends `NOTIFY` on `NOTIFY_CHANNEL` after commits, coalesced (module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.url = engine.url
        self.sent = 0  # NOTIFYs sent by this process (tests, benchmarks)
        self._engine: AsyncEngine | None = None  # the sender's own, opened on first use
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """A commit wrote outbox rows: make sure a NOTIFY starts after it."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            self._again = True
            return
        self._again = False
        self._task = loop.create_task(self._send())

    async def idle(self) -> None:
        """Wait until no NOTIFY is in flight or queued (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        """Let the NOTIFY under way finish, then close the sender's connection."""
        await self.idle()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def _sender(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(
                self.url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=SEND_TIMEOUT,
                connect_args={
                    "timeout": SEND_TIMEOUT,
                    "command_timeout": SEND_TIMEOUT,
                    "server_settings": {"application_name": "meetbook-wakeup"},
                },
            )
        return self._engine

    async def _send(self) -> None:
        while True:
            try:
                async with self._sender().connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None
                    await driver.execute(NOTIFY_SQL)
                self.sent += 1
            except Exception:
                # Workers poll anyway: a lost wake-up only delays delivery by one poll.
                log.warning("outbox.notify_failed", exc_info=True)
            if not self._again:
                return
            self._again = False
