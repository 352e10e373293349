"""The outbox worker: claims due notifications with a lease, delivers them, records the outcome.

Claiming: in one transaction, a SELECT picks a batch of due rows and an UPDATE sets their
lease. On PostgreSQL the SELECT uses FOR UPDATE SKIP LOCKED, so concurrent workers take
disjoint batches without waiting on each other; on SQLite every transaction is BEGIN
IMMEDIATE, which makes the claim a single serialized writer. A row whose lease runs out
(its worker was killed) is due again, so nothing is lost; its Message-ID is stable, so a
redelivery is recognisable. Retries back off exponentially with jitter and honour
Retry-After. On SIGTERM the sends under way finish and the rest of the batch is handed
back unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from meetbook.config import Settings
from meetbook.metrics import (
    DELIVERY_LATENCY,
    NOTIFICATIONS_FAILED,
    NOTIFICATIONS_RETRIED,
    NOTIFICATIONS_SENT,
)
from meetbook.models import Device, Meeting, Notification, User
from meetbook.notifications.content import Event, MeetingInfo, Notice, push_message
from meetbook.notifications.email import render_email
from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
)
from meetbook.notifications.fcm import FcmClient
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.outbox import NOTIFY_CHANNEL
from meetbook.notifications.smtp import EmailSender, SmtpSender
from meetbook.notifications.webpush import WebPushSender

log = logging.getLogger("meetbook.worker")


@dataclass
class Providers:
    """The delivery channels the worker was given; push channels may be off."""

    email: EmailSender
    fcm: FcmClient | None = None
    webpush: WebPushSender | None = None
    closers: list[Any] = field(default_factory=list)

    async def aclose(self) -> None:
        for closer in self.closers:
            await closer()


def providers_from_settings(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> Providers:
    email: EmailSender
    if settings.smtp_host:
        email = SmtpSender(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout,
        )
    else:
        email = DevMailbox(sessionmaker)
    providers = Providers(email=email)
    if isinstance(email, SmtpSender):
        providers.closers.append(email.aclose)  # QUIT the connections kept for reuse
    if settings.fcm_credentials:
        http = httpx.AsyncClient(timeout=10.0)
        providers.fcm = FcmClient(settings.fcm_credentials, http, endpoint=settings.fcm_endpoint)
        providers.closers.append(http.aclose)
    if settings.vapid_private_key and settings.vapid_subject:
        providers.webpush = WebPushSender(
            settings.vapid_private_key,
            settings.vapid_subject,
            allow_private_targets=settings.allow_private_targets,
        )
    return providers


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


@dataclass(eq=False)
class _Outcome:
    """A delivery's result, waiting to be written (see OutboxWorker._record)."""

    notification_id: int
    values: dict[str, Any]
    drop_device: int | None
    written: bool = False


@dataclass
class _Job:
    notification: Notification
    meeting: Meeting
    reader: User
    requester: User
    recipient: User
    actor: User | None
    device: Device | None


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
        self.name = f"{socket.gethostname()[:30]}:{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._sending = asyncio.Semaphore(concurrency)
        self._in_flight: set[int] = set()
        # Set by run() to its stop event; rows claimed but not yet started when it fires
        # are not sent but handed back (`_unstarted`), so shutdown waits for at most one
        # send per slot, not for the rest of the batch.
        self._stop = asyncio.Event()
        self._unstarted: set[int] = set()
        self._outcomes: list[_Outcome] = []
        self._writing = asyncio.Lock()

    @property
    def _postgres(self) -> bool:
        engine = cast(AsyncEngine, self.sessionmaker.kw["bind"])
        return engine.dialect.name == "postgresql"

    def wake(self) -> None:
        """New work was committed: look now instead of at the next poll."""
        self._wake.set()

    # The loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("worker.started", extra={"worker": self.name, "concurrency": self.concurrency})
        self._stop = stop
        listener = asyncio.create_task(self._listen(stop)) if self._postgres else None
        try:
            while not stop.is_set():
                try:
                    delivered = await self.run_once()
                except Exception:
                    log.exception("worker.batch_failed", extra={"worker": self.name})
                    delivered = 0
                if delivered:
                    continue  # there may be more due right now
                self._wake.clear()
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
        ids = await self._claim()
        if not ids:
            return 0
        jobs = await self._load(ids)
        await asyncio.gather(*(self._deliver(job) for job in jobs))
        return len(ids)

    async def drain(self, *, timeout: float = 30.0) -> None:
        """Deliver until nothing is due (tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            while await self.run_once():
                pass

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

    # Claim, load, deliver, record -------------------------------------------------------------

    async def _claim(self) -> list[int]:
        now = _now()
        due = and_(
            Notification.status == "pending",
            Notification.next_attempt_at <= now,
            or_(Notification.lease_expires_at.is_(None), Notification.lease_expires_at < now),
        )
        candidates = (
            select(Notification.id)
            .where(due)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(self.batch_size)
        )
        if self._postgres:
            candidates = candidates.with_for_update(skip_locked=True)
        # Two statements, not `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
        # LOCKED)`: PostgreSQL may run that as a nested-loop semi-join that rescans the
        # subquery for every outer row, and each rescan skips the rows this statement has
        # already updated and locks the next n, so the "batch" became every due row.
        async with self.sessionmaker() as session, session.begin():
            ids = list((await session.scalars(candidates)).all())
            if not ids:
                return []
            claimed = await session.scalars(
                update(Notification)
                .where(Notification.id.in_(ids), due)
                .values(
                    lease_owner=self.name,
                    lease_expires_at=now + self.lease,
                    attempts=Notification.attempts + 1,
                )
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
            return list(claimed.all())

    async def _load(self, ids: Sequence[int]) -> list[_Job]:
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(Notification).where(Notification.id.in_(ids)).order_by(Notification.id)
                )
            ).all()
            meetings = await _by_id(session, Meeting, {n.meeting_id for n in rows})
            user_ids = {n.user_id for n in rows} | {
                uid for m in meetings.values() for uid in (m.requester_id, m.recipient_id)
            }
            user_ids |= {int(n.context["actor_id"]) for n in rows if n.context.get("actor_id")}
            users = await _by_id(session, User, user_ids)
            device_ids = {n.device_id for n in rows if n.device_id is not None}
            devices = await _by_id(session, Device, device_ids)
        jobs = []
        for row in rows:
            meeting = meetings[row.meeting_id]
            actor_id = row.context.get("actor_id")
            jobs.append(
                _Job(
                    notification=row,
                    meeting=meeting,
                    reader=users[row.user_id],
                    requester=users[meeting.requester_id],
                    recipient=users[meeting.recipient_id],
                    actor=users.get(int(actor_id)) if actor_id else None,
                    device=devices.get(row.device_id) if row.device_id else None,
                )
            )
        return jobs

    async def _deliver(self, job: _Job) -> None:
        row = job.notification
        self._in_flight.add(row.id)
        try:
            async with self._sending:
                if self._stop.is_set():
                    raise _NotStarted
                await self._send(job)
        except _NotStarted:
            self._unstarted.add(row.id)  # released by _release_leases
        except RecipientGone as error:
            await self._finish(row, "failed", error.reason, drop_device=row.device_id)
        except PermanentDeliveryError as error:
            await self._finish(row, "failed", error.reason)
        except TemporaryDeliveryError as error:
            await self._retry_or_fail(row, error.reason, error.retry_after)
        except Exception as error:  # a bug or an unclassified failure: retry, then give up
            log.exception("notification.unexpected_error", extra={"notification_id": row.id})
            await self._retry_or_fail(row, f"unexpected error: {type(error).__name__}", None)
        else:
            await self._finish(row, "sent", None)
        finally:
            self._in_flight.discard(row.id)

    async def _send(self, job: _Job) -> None:
        notice = _notice(job)
        row = job.notification
        if row.channel == "email":
            message = render_email(
                notice,
                mail_from=self.settings.mail_from,
                base_url=self.settings.base_url,
                domain=self.settings.mail_domain,
            )
            await self.providers.email.send(message)
            return
        if job.device is None:
            raise PermanentDeliveryError("the push device was removed")
        title, body, data = push_message(notice)
        if row.channel == "fcm":
            if self.providers.fcm is None:
                raise PermanentDeliveryError("FCM is not configured")
            await self.providers.fcm.send(job.device.token, title, body, data)
        elif row.channel == "webpush":
            if self.providers.webpush is None:
                raise PermanentDeliveryError("Web Push is not configured")
            subscription = job.device.subscription or {}
            await self.providers.webpush.send(subscription, {"title": title, "body": body, **data})
        else:
            raise PermanentDeliveryError(f"unknown channel {row.channel!r}")

    async def _retry_or_fail(
        self, row: Notification, reason: str, retry_after: float | None
    ) -> None:
        if row.attempts >= self.retry.max_attempts:
            await self._finish(row, "failed", f"gave up after {row.attempts} attempts: {reason}")
            return
        delay = self.retry.delay(row.attempts, retry_after)
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
            next_attempt_at=_now() + timedelta(seconds=delay),
        )

    async def _finish(
        self, row: Notification, status: str, reason: str | None, *, drop_device: int | None = None
    ) -> None:
        now = datetime.now(UTC)
        if status == "sent":
            NOTIFICATIONS_SENT.labels(row.channel).inc()
            DELIVERY_LATENCY.labels(row.channel).observe((now - row.created_at).total_seconds())
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
                await session.execute(
                    update(Notification)
                    .where(
                        Notification.id == outcome.notification_id,
                        Notification.lease_owner == self.name,
                    )
                    .values(lease_owner=None, lease_expires_at=None, **outcome.values)
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

    async def _release_leases(self) -> None:
        """On shutdown, hand unfinished rows back so another worker takes them at once."""
        unstarted, self._unstarted = self._unstarted, set()
        with contextlib.suppress(Exception):
            async with self.sessionmaker() as session, session.begin():
                if unstarted:
                    # Never attempted: give back the attempt the claim counted.
                    await session.execute(
                        update(Notification)
                        .where(
                            Notification.id.in_(unstarted),
                            Notification.lease_owner == self.name,
                            Notification.status == "pending",
                        )
                        .values(
                            lease_owner=None,
                            lease_expires_at=None,
                            attempts=Notification.attempts - 1,
                        )
                        .execution_options(synchronize_session=False)
                    )
                await session.execute(
                    update(Notification)
                    .where(Notification.lease_owner == self.name, Notification.status == "pending")
                    .values(lease_owner=None, lease_expires_at=None)
                    .execution_options(synchronize_session=False)
                )


class _NotStarted(Exception):
    """The worker is stopping: a claimed row is handed back instead of being sent."""


def _now() -> datetime:
    # Full precision: leases and sub-second backoffs must not round to whole seconds.
    return datetime.now(UTC)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _by_id(session: AsyncSession, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()
    return {row.id: row for row in rows}


def _notice(job: _Job) -> Notice:
    meeting, context = job.meeting, job.notification.context
    info = MeetingInfo(
        id=meeting.id,
        booking_number=meeting.booking_number,
        requester_name=job.requester.name,
        requester_email=job.requester.email,
        recipient_name=job.recipient.name,
        recipient_email=job.recipient.email,
        start=datetime.fromtimestamp(meeting.start_time, UTC),
        end=datetime.fromtimestamp(meeting.end_time, UTC),
        link=meeting.link,
        reason=context.get("reason"),
        was_confirmed=bool(context.get("was_confirmed")),
        sequence=int(context.get("sequence", 0)),
    )
    return Notice(
        event=cast(Event, job.notification.event),
        meeting=info,
        to_name=job.reader.name,
        to_email=job.reader.email,
        to_timezone=job.reader.timezone or "UTC",
        actor_name=job.actor.name if job.actor else job.requester.name,
        notification_id=job.notification.id,
    )


async def run_standalone(settings: Settings, *, concurrency: int) -> None:
    """`meetbook worker` until SIGINT/SIGTERM: finish the sends under way, hand back the rest."""
    import signal

    from meetbook.db import create_engine, create_sessionmaker

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
        await engine.dispose()
