"""Delivering one claimed outbox row: load it, send it through its channel, record the outcome.

Outcomes are classified by the channel's errors (`notifications/errors.py`): sent; failed
for good (the device is removed when the provider says it is gone); or retried later with
exponential backoff and jitter, honouring Retry-After, until the last attempt. Outcomes are
written only while this worker still holds the row's lease, and are group-committed.

A row cancelled while it was being sent (`notifications/scheduled.py`) keeps `cancelled`
unless the send succeeded: then it reads `sent`, which is what happened.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.availability.calendar import CHANNEL as CALENDAR_CHANNEL
from meetbook.availability.calendar import write_through
from meetbook.config import Settings
from meetbook.meetings.answer_links import AnswerLinks, grant_for_event
from meetbook.meetings.timed_notices import is_current
from meetbook.metrics import (
    DELIVERY_LATENCY,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRIED,
    NOTIFICATIONS_SENT,
)
from meetbook.models import Device, Meeting, Notification, User
from meetbook.notifications.account_email import render_account_email
from meetbook.notifications.content import Event, MeetingInfo, Notice, push_message
from meetbook.notifications.email import render_email
from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
)
from meetbook.notifications.providers import Providers

log = logging.getLogger("meetbook.worker")

# Web Push `Urgency` (RFC 8030 §5.3): events that ask the reader to answer are `high`, so
# a phone in power saving still shows them at once; the rest can wait for a wake-up.
HIGH_URGENCY_EVENTS = frozenset({"meeting-created", "meeting-proposed", "meeting-expiring"})


@dataclass(frozen=True)
class RetryPolicy:
    """About 8 attempts over about an hour by default: 30 s, 1, 2, 4, 8, 16, 32 min."""

    max_attempts: int = 8
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`: exponential, half of it jittered."""
        exponential = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        delay = exponential / 2 + random.uniform(0, exponential / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap_seconds))
        return float(delay)


@dataclass
class Delivery:
    """A claimed row with everything its message needs."""

    notification: Notification
    meeting: Meeting
    reader: User
    requester: User
    recipient: User
    actor: User | None
    device: Device | None


@dataclass
class AccountDelivery:
    """A claimed account email (an invite or a password reset): no meeting, email only."""

    notification: Notification


@dataclass(eq=False)
class _Outcome:
    """A delivery's result, waiting to be written (see Deliverer._record)."""

    notification_id: int
    values: dict[str, Any]
    drop_device: int | None
    written: bool = False


async def load_deliveries(
    sessionmaker: async_sessionmaker[AsyncSession], ids: Sequence[int]
) -> list[Delivery | AccountDelivery]:
    """The rows `ids` with their meetings, people and devices, in id order."""
    async with sessionmaker() as session:
        loaded = (
            await session.scalars(
                # Rows of a webhook are `webhooks/delivery.py`'s.
                select(Notification)
                .where(Notification.id.in_(ids), Notification.webhook_id.is_(None))
                .order_by(Notification.id)
            )
        ).all()
        return await deliveries_of(session, loaded)


async def deliveries_of(
    session: AsyncSession, loaded: Sequence[Notification]
) -> list[Delivery | AccountDelivery]:
    """Rows already read (not a webhook's), with their meetings, people and devices: one
    query per table for the whole batch. Account emails first, then in the rows' order."""
    accounts: list[Delivery | AccountDelivery] = [
        AccountDelivery(n) for n in loaded if n.meeting_id is None
    ]
    rows = [n for n in loaded if n.meeting_id is not None]
    meetings = await _by_id(session, Meeting, {n.meeting_id for n in rows if n.meeting_id})
    user_ids = {n.user_id for n in rows if n.user_id is not None} | {
        uid for m in meetings.values() for uid in (m.requester_id, m.recipient_id)
    }
    user_ids |= {int(n.context["actor_id"]) for n in rows if n.context.get("actor_id")}
    users = await _by_id(session, User, user_ids)
    device_ids = {n.device_id for n in rows if n.device_id is not None}
    devices = await _by_id(session, Device, device_ids)
    deliveries = accounts
    for row in rows:
        assert row.meeting_id is not None and row.user_id is not None  # meeting rows
        meeting = meetings[row.meeting_id]
        actor_id = row.context.get("actor_id")
        deliveries.append(
            Delivery(
                notification=row,
                meeting=meeting,
                reader=users[row.user_id],
                requester=users[meeting.requester_id],
                recipient=users[meeting.recipient_id],
                actor=users.get(int(actor_id)) if actor_id else None,
                device=devices.get(row.device_id) if row.device_id else None,
            )
        )
    return deliveries


def notice_for(delivery: Delivery) -> Notice:
    """What the message says, independent of its channel."""
    meeting, context = delivery.meeting, delivery.notification.context
    info = MeetingInfo.of(
        meeting,
        delivery.requester,
        delivery.recipient,
        reason=context.get("reason"),
        was_confirmed=bool(context.get("was_confirmed")),
        sequence=int(context.get("sequence", 0)),
        start_time=_optional_int(context.get("start_time")),
        previous_start=_optional_int(context.get("previous_start")),
        proposed_start=_optional_int(context.get("proposed_start")),
    )
    return Notice(
        event=cast(Event, delivery.notification.event),
        meeting=info,
        to_name=delivery.reader.name,
        to_email=delivery.reader.email,
        to_timezone=delivery.reader.timezone or "UTC",
        actor_name=delivery.actor.name if delivery.actor else delivery.requester.name,
        notification_id=delivery.notification.id,
        to_locale=delivery.reader.locale,
        lead_minutes=int(context["minutes"]) if context.get("minutes") else None,
    )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def push_topic(meeting_id: int) -> str:
    """One Web Push `Topic` per meeting (≤ 32 URL-safe base64 characters): a newer
    message about the meeting replaces an undelivered older one."""
    return f"meeting-{meeting_id}"


class Deliverer:
    """Sends deliveries through the providers and records their outcomes as `owner`."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        providers: Providers,
        settings: Settings,
        *,
        owner: str,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.providers = providers
        self.settings = settings
        self.owner = owner
        self.retry = retry
        self.clock = clock
        self._outcomes: list[_Outcome] = []
        self._links: AnswerLinks | None = None
        self._writing = asyncio.Lock()

    def _answer_links(self) -> AnswerLinks:
        # Made on first use: most deliveries carry no answer links.
        if self._links is None:
            self._links = AnswerLinks(self.settings.resolved_secret_key())
        return self._links

    async def deliver(self, delivery: Delivery | AccountDelivery) -> None:
        """Send one delivery and record what happened; never raises a delivery error."""
        row = delivery.notification
        if isinstance(delivery, Delivery) and not is_current(
            row.event, row.context, delivery.meeting, self.clock()
        ):
            # A timed notice the meeting's state no longer warrants (moved, answered,
            # cancelled after it was claimed): dropped, never sent.
            log.info(
                "notification.dropped",
                extra={"notification_id": row.id, "notification_event": row.event},
            )
            await self._record(row, status="cancelled", last_error="no longer due")
            return
        await self.deliver_with(row, lambda: self.send(delivery))

    async def deliver_with(
        self,
        row: Notification,
        send: Callable[[], Awaitable[None]],
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        """Run `send` for `row` and record the outcome its errors classify (also for rows
        other modules send, such as webhooks, with their own `retry` schedule)."""
        try:
            await send()
        except RecipientGone as error:
            await self._finish(row, "failed", error.reason, drop_device=row.device_id)
        except PermanentDeliveryError as error:
            await self._finish(row, "failed", error.reason)
        except TemporaryDeliveryError as error:
            await self._retry_or_fail(row, error.reason, error.retry_after, retry or self.retry)
        except Exception as error:  # a bug or an unclassified failure: retry, then give up
            log.exception("notification.unexpected_error", extra={"notification_id": row.id})
            reason = f"unexpected error: {type(error).__name__}"
            await self._retry_or_fail(row, reason, None, retry or self.retry)
        else:
            await self._finish(row, "sent", None)

    async def send(self, delivery: Delivery | AccountDelivery) -> None:
        """Render the message for the row's channel and hand it to that provider."""
        if isinstance(delivery, AccountDelivery):
            message = await render_account_email(
                self.sessionmaker, delivery.notification, self.settings, now=self.clock()
            )
            await self.providers.email.send(message)
            return
        row = delivery.notification
        if row.channel == CALENDAR_CHANNEL:
            assert row.user_id is not None  # a meeting's row
            await write_through(
                self.sessionmaker,
                self.settings,
                delivery.meeting,
                row.user_id,
                delivery.requester,
                delivery.recipient,
            )
            return
        notice = notice_for(delivery)
        if row.channel == "email":
            assert row.meeting_id is not None and row.user_id is not None  # a meeting's row
            grant = grant_for_event(row.event, row.meeting_id, row.user_id, row.context)
            if grant is not None:
                notice = replace(notice, answer_token=self._answer_links().token(grant))
            message = render_email(
                notice,
                mail_from=self.settings.mail_from,
                base_url=self.settings.base_url,
                domain=self.settings.mail_domain,
            )
            await self.providers.email.send(message)
            return
        if delivery.device is None:
            raise PermanentDeliveryError("the push device was removed")
        title, body, data = push_message(notice)
        if row.channel == "fcm":
            if self.providers.fcm is None:
                raise PermanentDeliveryError("FCM is not configured")
            await self.providers.fcm.send(
                delivery.device.token,
                title,
                body,
                data,
                collapse_key=push_topic(delivery.meeting.id),
            )
        elif row.channel == "webpush":
            if self.providers.webpush is None:
                raise PermanentDeliveryError("Web Push is not configured")
            subscription = delivery.device.subscription or {}
            await self.providers.webpush.send(
                subscription,
                {"title": title, "body": body, **data},
                urgency="high" if row.event in HIGH_URGENCY_EVENTS else "normal",
                topic=push_topic(delivery.meeting.id),
            )
        else:
            raise PermanentDeliveryError(f"unknown channel {row.channel!r}")

    async def _retry_or_fail(
        self, row: Notification, reason: str, retry_after: float | None, retry: RetryPolicy
    ) -> None:
        if row.attempts >= retry.max_attempts:
            await self._finish(row, "failed", f"gave up after {row.attempts} attempts: {reason}")
            return
        delay = retry.delay(row.attempts, retry_after)
        NOTIFICATIONS_RETRIED.labels(row.channel).inc()
        log.warning(
            "notification.retry",
            extra={
                "notification_id": row.id,
                "channel": row.channel,
                "attempt": row.attempts,
                "delay_seconds": round(delay, 2),
                "reason": reason[:300],
            },
        )
        await self._record(
            row,
            status="pending",
            last_error=reason[:1000],
            next_attempt_at=self.clock() + timedelta(seconds=delay),
        )

    async def _finish(
        self, row: Notification, status: str, reason: str | None, *, drop_device: int | None = None
    ) -> None:
        now = self.clock()
        if status == "sent":
            NOTIFICATIONS_SENT.labels(row.channel).inc()
            # A scheduled row is late from the time it was due, not from when it was made.
            since = row.next_attempt_at if row.schedule_key else row.created_at
            latency = (datetime.now(UTC) - since).total_seconds()  # wall time, not the clock
            DELIVERY_LATENCY.labels(row.channel).observe(latency)
            log.info(
                "notification.sent",
                extra={
                    "notification_id": row.id,
                    "channel": row.channel,
                    "notification_event": row.event,
                    "meeting_id": row.meeting_id,
                },
            )
        else:
            NOTIFICATIONS_FAILED.labels(row.channel).inc()
            log.error(
                "notification.failed",
                extra={
                    "notification_id": row.id,
                    "channel": row.channel,
                    "notification_event": row.event,
                    "reason": (reason or "")[:300],
                },
            )
        await self._record(
            row,
            status=status,
            last_error=reason[:1000] if reason else None,
            sent_at=now.replace(microsecond=0) if status == "sent" else None,
            drop_device=drop_device,
        )

    async def _record(
        self, row: Notification, *, drop_device: int | None = None, **values: Any
    ) -> None:
        """Write the outcome, only while this worker still holds the lease.

        Outcomes are group-committed: whoever takes the write lock writes every outcome
        queued so far in one transaction, so concurrent deliveries share a commit instead
        of queueing for SQLite's single writer (or a pool connection) one by one. An
        outcome is written before its delivery's `_record` returns.
        """
        outcome = _Outcome(row.id, values, drop_device)
        self._outcomes.append(outcome)
        async with self._writing:
            if outcome.written:  # carried by another delivery's transaction
                return
            batch, self._outcomes = self._outcomes, []
            try:
                await self._write_outcomes(batch)
            except BaseException:
                self._outcomes[:0] = batch  # unwritten: the next writer tries them again
                raise
            for item in batch:
                item.written = True

    async def _write_outcomes(self, batch: Sequence[_Outcome]) -> None:
        async with self.sessionmaker() as session, session.begin():
            for outcome in batch:
                values = dict(outcome.values)
                if values["status"] != "sent":
                    # Cancelled while in flight and not delivered: it stays cancelled.
                    values["status"] = case(
                        (Notification.status == "cancelled", "cancelled"),
                        else_=values["status"],
                    )
                await session.execute(
                    update(Notification)
                    .where(
                        Notification.id == outcome.notification_id,
                        Notification.lease_owner == self.owner,
                    )
                    .values(lease_owner=None, lease_expires_at=None, **values)
                    .execution_options(synchronize_session=False)
                )
                if outcome.drop_device is not None:
                    await session.execute(delete(Device).where(Device.id == outcome.drop_device))
                    log.info(
                        "device.removed",
                        extra={
                            "device_id": outcome.drop_device,
                            "reason": outcome.values.get("last_error"),
                        },
                    )


async def _by_id(session: AsyncSession, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()
    return {row.id: row for row in rows}
