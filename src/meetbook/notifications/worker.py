"""The outbox worker's loop: claim due rows, deliver them, run due periodic jobs, repeat.

Claiming and leases are in `leases.py`, sending and recording an outcome in
`delivery.py`, the channels in `providers.py`, periodic jobs (retention) in `periodic.py`.
A row whose lease runs out (its worker was killed) is due again, so nothing is lost; its
Message-ID is stable, so a redelivery is recognisable. On SIGTERM the sends under way
finish and the rest of the batch is handed back unsent. On PostgreSQL the API's NOTIFY
wakes the worker at once; otherwise (and as a fallback) it polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.meetings.clock_job import CLOCK_STATUSES
from meetbook.models import Notification
from meetbook.notifications.delivery import (
    AccountDelivery,
    Deliverer,
    Delivery,
    RetryPolicy,
    deliveries_of,
)
from meetbook.notifications.leases import claim_notifications, release_notifications
from meetbook.notifications.outbox import NOTIFY_CHANNEL
from meetbook.notifications.periodic import Periodic, PeriodicRunner
from meetbook.notifications.providers import Providers, providers_from_settings
from meetbook.notifications.retention import RETENTION
from meetbook.webhooks.delivery import (
    WebhookDeliverer,
    WebhookDelivery,
    WebhookRetry,
    webhook_deliveries_of,
)

__all__ = ["OutboxWorker", "Providers", "RetryPolicy", "providers_from_settings", "run_standalone"]

log = logging.getLogger("meetbook.worker")

# How often the loop looks for due periodic jobs; a job's own period is much longer.
PERIODIC_CHECK = timedelta(minutes=1)


def _now() -> datetime:
    # Full precision: leases and sub-second backoffs must not round to whole seconds.
    return datetime.now(UTC)


class OutboxWorker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        providers: Providers,
        settings: Settings,
        *,
        concurrency: int = 4,
        batch_size: int | None = None,
        lease_seconds: float = 120.0,
        poll_seconds: float = 1.0,
        retry: RetryPolicy | None = None,
        webhook_retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = _now,
        periodic: Sequence[Periodic] = (RETENTION, CLOCK_STATUSES),
    ) -> None:
        self.sessionmaker = sessionmaker
        self.providers = providers
        self.settings = settings
        self.concurrency = concurrency
        # A batch must finish well inside its lease even against a hung SMTP server:
        # 4 rows per sending slot × the SMTP timeout (15 s) stays under half of 120 s.
        self.batch_size = batch_size or 4 * concurrency
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.name = f"{socket.gethostname()[:30]}:{uuid.uuid4().hex[:12]}"
        self._deliverer = Deliverer(
            sessionmaker, providers, settings, owner=self.name, retry=self.retry, clock=clock
        )
        self._webhooks = WebhookDeliverer(self._deliverer, webhook_retry or WebhookRetry())
        # A periodic job may take longer than a batch of sends (retention of a backlog).
        self._periodic = PeriodicRunner(
            sessionmaker,
            settings,
            periodic,
            owner=self.name,
            lease=timedelta(minutes=15),
            postgres=self._postgres,
        )
        self._next_periodic: datetime | None = None
        self._wake = asyncio.Event()
        self._sending = asyncio.Semaphore(concurrency)
        self._in_flight: set[int] = set()
        # Set by run() to its stop event; rows claimed but not yet started when it fires
        # are not sent but handed back (`_unstarted`), so shutdown waits for at most one
        # send per slot, not for the rest of the batch.
        self._stop = asyncio.Event()
        self._unstarted: set[int] = set()

    @property
    def _postgres(self) -> bool:
        engine = cast(AsyncEngine, self.sessionmaker.kw["bind"])
        return engine.dialect.name == "postgresql"

    def wake(self) -> None:
        """New work was committed: look now instead of at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker.started", extra={"worker": self.name, "concurrency": self.concurrency})
        self._stop = stop
        listener = asyncio.create_task(self._listen(stop)) if self._postgres else None
        try:
            while not stop.is_set():
                # Cleared before looking, not after: a wake-up that arrives while this
                # pass runs stays set, so the wait below returns at once for it.
                self._wake.clear()
                try:
                    delivered = await self.run_once()
                except Exception:
                    log.exception("worker.batch_failed", extra={"worker": self.name})
                    delivered = 0
                try:
                    await self._periodic_if_due()
                except Exception:  # never let a periodic job stop deliveries
                    log.exception("job.check_failed", extra={"worker": self.name})
                if delivered:
                    continue  # there may be more due right now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(self._wake, stop), timeout=self.poll_seconds)
        finally:
            if listener:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener
            await self._release_leases()
            log.info("worker.stopped", extra={"worker": self.name})

    async def run_once(self) -> int:
        """Claim one batch and deliver it; returns how many rows were claimed."""
        rows = await self._claim()
        if not rows:
            return 0
        deliveries: list[Delivery | AccountDelivery | WebhookDelivery] = []
        # The claim returned the rows: one read of what they refer to, for the batch.
        async with self.sessionmaker() as session:
            deliveries += await deliveries_of(session, [r for r in rows if r.webhook_id is None])
            deliveries += await webhook_deliveries_of(
                session, [r for r in rows if r.webhook_id is not None]
            )
        await asyncio.gather(*(self._deliver(delivery) for delivery in deliveries))
        return len(rows)

    async def run_periodic(self) -> list[str]:
        """Run the periodic jobs due now that no other worker holds; returns their names."""
        return await self._periodic.run_due(self.clock())

    async def drain(self, *, timeout: float = 30.0) -> None:
        """Deliver until nothing is due (tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            while await self.run_once():
                pass

    async def _periodic_if_due(self) -> None:
        # Looked at once a minute, not every poll: on SQLite even a claim that finds
        # nothing takes the write lock.
        now = self.clock()
        if self._next_periodic is not None and now < self._next_periodic:
            return
        self._next_periodic = now + PERIODIC_CHECK
        await self._periodic.run_due(now)

    async def _claim(self) -> list[Notification]:
        return await claim_notifications(
            self.sessionmaker,
            owner=self.name,
            now=self.clock(),
            lease=self.lease,
            limit=self.batch_size,
            postgres=self._postgres,
        )

    async def _deliver(self, delivery: Delivery | AccountDelivery | WebhookDelivery) -> None:
        row = delivery.notification
        self._in_flight.add(row.id)
        try:
            async with self._sending:
                if self._stop.is_set():
                    self._unstarted.add(row.id)  # handed back by _release_leases
                    return
                if isinstance(delivery, WebhookDelivery):
                    await self._webhooks.deliver(delivery)
                else:
                    await self._deliverer.deliver(delivery)
        finally:
            self._in_flight.discard(row.id)

    async def _release_leases(self) -> None:
        """On shutdown, hand unfinished rows back so another worker takes them at once."""
        unstarted, self._unstarted = self._unstarted, set()
        with contextlib.suppress(Exception):
            await release_notifications(self.sessionmaker, owner=self.name, unstarted=unstarted)

    async def _listen(self, stop: asyncio.Event) -> None:
        """PostgreSQL LISTEN: the API's NOTIFY (sent on commit) wakes this worker at once."""
        engine = cast(AsyncEngine, self.sessionmaker.kw["bind"])
        while not stop.is_set():
            try:
                async with engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None
                    await driver.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                    await stop.wait()
                    return
            except Exception:
                log.warning("worker.listen_failed", extra={"worker": self.name})
                await asyncio.sleep(2)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_standalone(settings: Settings, *, concurrency: int) -> None:
    """`meetbook worker` until SIGINT/SIGTERM: finish the sends under way, hand back the rest."""
    import signal

    from meetbook.db import create_engine, create_sessionmaker, settle

    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    providers = providers_from_settings(settings, sessionmaker)
    worker = OutboxWorker(
        sessionmaker,
        providers,
        settings,
        concurrency=concurrency,
        poll_seconds=1.0 if engine.dialect.name == "postgresql" else 0.25,
    )
    stop = asyncio.Event()

    def request_stop(sig: signal.Signals) -> None:
        log.info("worker.stopping", extra={"worker": worker.name, "signal": sig.name})
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop, sig)
    try:
        await worker.run(stop)
    finally:
        await providers.aclose()
        await settle(sessionmaker)
        await engine.dispose()
