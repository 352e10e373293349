"""Commits/s of concurrent writers with the workers' NOTIFY inside each transaction vs
after the commit, coalesced as `meetbook/notifications/wakeup.py` does:
`python -m bench.notify_commits [--writers 16] [--seconds 4] [--pairs 3]`.

Raw asyncpg on a fresh PostgreSQL database (one `INSERT` per transaction), so the
figure is PostgreSQL's: notifying transactions serialize their commits on one lock
held through the WAL flush. Used for docs/benchmarks.md "Issue #15 levers".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

from meetbook.notifications.wakeup import NOTIFY_SQL

INSIDE = "BEGIN; INSERT INTO t (v) VALUES (1); SELECT pg_notify('meetbook_outbox', ''); COMMIT"
ALONE = "BEGIN; INSERT INTO t (v) VALUES (1); COMMIT"


class Coalesced:
    """At most one NOTIFY in flight, plus one queued (the wakeup.py rule)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.task: asyncio.Task[None] | None = None
        self.again = False
        self.sent = 0

    def request(self) -> None:
        if self.task is not None and not self.task.done():
            self.again = True
            return
        self.again = False
        self.task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while True:
            await self.connection.execute(NOTIFY_SQL)
            self.sent += 1
            if not self.again:
                return
            self.again = False


async def run(dsn: str, mode: str, writers: int, seconds: float) -> tuple[float, int, int]:
    connections = [await asyncpg.connect(dsn) for _ in range(writers + 1)]
    notifier = Coalesced(connections[-1])
    done = 0
    stop = time.monotonic() + seconds

    async def writer(connection: asyncpg.Connection) -> None:
        nonlocal done
        while time.monotonic() < stop:
            if mode == "inside":
                await connection.execute(INSIDE)
            else:
                await connection.execute(ALONE)
                notifier.request()
            done += 1

    started = time.monotonic()
    try:
        await asyncio.gather(*(writer(c) for c in connections[:writers]))
        if notifier.task is not None:
            await notifier.task
        return done / (time.monotonic() - started), done, notifier.sent
    finally:
        for connection in connections:
            await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_commits")
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    url = await create_postgres_database(POSTGRES_URL)
    dsn = url.replace("postgresql+asyncpg", "postgresql")
    rates: dict[str, list[float]] = {"inside": [], "after": []}
    try:
        setup = await asyncpg.connect(dsn)
        await setup.execute("CREATE TABLE t (id bigserial PRIMARY KEY, v int)")
        await setup.close()
        for _ in range(args.pairs):
            for mode in rates:
                rate, commits, sent = await run(dsn, mode, args.writers, args.seconds)
                rates[mode].append(rate)
                print(
                    f"NOTIFY {mode:6}: {rate:7.0f} commits/s ({commits} commits, "
                    f"{sent} NOTIFYs after commit)",
                    flush=True,
                )
    finally:
        await drop_postgres_database(POSTGRES_URL, url)
    for mode, values in rates.items():
        print(f"NOTIFY {mode:6}: median {statistics.median(values):.0f} commits/s")


if __name__ == "__main__":
    asyncio.run(main())
