"""Prometheus metrics of the notification pipeline."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.models import Notification

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
QUEUE_DEPTH = Gauge(
    "meetbook_notifications_queue_depth", "Notifications waiting to be delivered", registry=REGISTRY
)
DELIVERY_LATENCY = Histogram(
    "meetbook_notification_delivery_seconds",
    "Time from the notification's creation to its delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
    registry=REGISTRY,
)


async def refresh_queue_depth(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    with contextlib.suppress(Exception):
        async with sessionmaker() as session:
            depth = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status == "pending")
            )
            QUEUE_DEPTH.set(depth or 0)
