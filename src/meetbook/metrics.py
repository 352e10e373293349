"""Prometheus metrics: the notification pipeline and the HTTP requests.

One process keeps its metrics in REGISTRY. With `serve --workers N` several API processes
answer /metrics, each seeing only its own counts, so a scrape landed on whichever process
the kernel picked and totals jumped up and down. `serve` therefore points
PROMETHEUS_MULTIPROC_DIR at a fresh private directory before uvicorn starts the processes:
prometheus_client then keeps every process's values in files there and `exposition()`
sums them, so a scrape of any process shows the totals, and a process that dies (and is
replaced) leaves its counts behind instead of taking them away.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.models import Notification, utcnow

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CHANNELS = ("email", "fcm", "webpush", "webhook")

REGISTRY = CollectorRegistry(auto_describe=True)

NOTIFICATIONS_SENT = Counter(
    "meetbook_notifications_sent", "Notifications delivered", ["channel"], registry=REGISTRY
)
NOTIFICATIONS_FAILED = Counter(
    "meetbook_notifications_failed", "Notifications given up on", ["channel"], registry=REGISTRY
)
NOTIFICATIONS_RETRIED = Counter(
    "meetbook_notifications_retried",
    "Delivery attempts to be retried",
    ["channel"],
    registry=REGISTRY,
)
# Read from the database at each scrape; with several processes the latest reading wins.
QUEUE_DEPTH = Gauge(
    "meetbook_notifications_queue_depth",
    "Notifications waiting to be delivered (timed notices, such as reminders, once due)",
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
DELIVERY_LATENCY = Histogram(
    "meetbook_notification_delivery_seconds",
    "Time from the notification's creation to its delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)
PIPELINE_METRICS = (
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRIED,
    DELIVERY_LATENCY,
)

# Labelled by route template, never the raw path, so unknown paths cannot grow the series.
HTTP_REQUESTS = Counter(
    "meetbook_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "meetbook_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

# A labelled metric has no samples until its first child exists: create one per channel
# now, so a failure counter reads 0 from start-up instead of appearing at the first failure.
for _channel in CHANNELS:
    for _metric in PIPELINE_METRICS:
        _metric.labels(_channel)


def exposition() -> bytes:
    """The text a scrape gets: this process's metrics, or every process's when shared."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def worker_registry() -> CollectorRegistry:
    """What a standalone worker exports: the delivery metrics (no HTTP, no queue depth).

    The queue depth is read from the database by the API at each scrape; a worker's copy
    would be a stale 0.
    """
    registry = CollectorRegistry(auto_describe=True)
    for metric in PIPELINE_METRICS:
        registry.register(metric)
    return registry


def share_between_processes() -> str:
    """Point prometheus_client in the processes about to be started at a fresh directory.

    Private (mkdtemp makes it 0700) and new on every start, so no earlier run's counts
    and no other user's files are summed in. Must run before those processes import
    prometheus_client; `remove_shared_directory` deletes it afterwards.
    """
    directory = tempfile.mkdtemp(prefix="meetbook-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    return directory


def remove_shared_directory(directory: str | None) -> None:
    if directory is not None:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


async def refresh_queue_depth(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    with contextlib.suppress(Exception):
        async with sessionmaker() as session:
            depth = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.status == "pending",
                    # A reminder planned for next week is not a backlog.
                    or_(
                        Notification.schedule_key.is_(None),
                        Notification.next_attempt_at <= utcnow(),
                    ),
                )
            )
            QUEUE_DEPTH.set(depth or 0)
