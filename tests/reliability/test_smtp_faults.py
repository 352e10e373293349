"""SMTP broken in every way while meetings keep changing: nothing lost, all delivered after.

The outbox worker runs as `meetbook serve` runs it (OutboxWorker.run in the app's event
loop) with a real SmtpSender over loopback, on both backends, through a TCP proxy in
front of an aiosmtpd sink. The SMTP side goes through: accepting, hanging in DATA,
silent (TCP accepted, nothing ever answered, on open connections too), down (not
listening, open connections reset), 451 to every message, accepting again, while the
API keeps creating, confirming, rejecting and cancelling. The retry policy is shortened
so that recovery takes seconds, not the production half hour; the SMTP timeout is the
one under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter, defaultdict
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from meetbook.models import Notification, User
from meetbook.notifications.smtp import SmtpSender
from meetbook.notifications.worker import OutboxWorker, Providers, RetryPolicy
from tests.conftest import World, create_meeting, future
from tests.reliability.harness import (
    MESSAGE_ID,
    FaultyProxy,
    MessageIdSink,
    SmtpSink,
    expected_recipients,
    notification_and_meeting,
)

pytestmark = pytest.mark.timeout(240)

SMTP_TIMEOUT = 1.0
# Never gives up during the outage: 40 attempts, at most 0.5 s apart.
PATIENT = RetryPolicy(max_attempts=40, base_seconds=0.05, cap_seconds=0.5)


class TimedSender(SmtpSender):
    """The real SmtpSender, remembering how long each send took and how it ended."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sends: list[tuple[str, float, str]] = []  # (phase it began in, seconds, outcome)
        self.phase = "start"

    async def send(self, message: EmailMessage) -> None:
        started, phase = time.monotonic(), self.phase
        outcome = "sent"
        try:
            await super().send(message)
        except Exception as error:
            outcome = type(error).__name__
            raise
        finally:
            self.sends.append((phase, time.monotonic() - started, outcome))


async def test_smtp_outage_of_every_kind_loses_nothing(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    clock: Any,
) -> None:
    # Up to 400 requests from 4 people: load, not the per-requester create limit.
    app.state.settings = app.state.settings.model_copy(update={"rate_limit_create": "off"})
    handler = MessageIdSink()
    controller = SmtpSink(handler)
    controller.start()
    proxy = FaultyProxy(controller.port)
    await proxy.start()
    sessionmaker = app.state.sessionmaker
    # Keeps up to 8 connections open between messages (the default), so the faults
    # also hit connections opened while the server was fine.
    sender = TimedSender("127.0.0.1", proxy.port, timeout=SMTP_TIMEOUT)
    worker = OutboxWorker(
        sessionmaker, Providers(email=sender), app.state.settings, retry=PATIENT, poll_seconds=0.1
    )
    people = [await world.person() for _ in range(4)]
    team_id = await world.team(*people)
    changes: dict[int, list[tuple[str, int]]] = defaultdict(list)
    parties: dict[int, tuple[int, int]] = {}
    rng = random.Random(5)
    stop_load = asyncio.Event()

    async def load() -> None:
        for n in range(400):  # bounded; normally stopped by the event long before
            if stop_load.is_set():
                return
            by, to = rng.sample(people, 2)
            date = future(clock, days=2 + n % 300, hour=rng.randint(0, 22))
            created = await create_meeting(client, by, to, team_id, date)
            assert created.status_code in (201, 409), created.text
            if created.status_code == 201:
                meeting_id = created.json()["id"]
                parties[meeting_id] = (by.id, to.id)
                action, actor = rng.choice(
                    [("confirm", to), ("reject", to), ("cancel", by), ("cancel", to), (None, by)]
                )
                if action:
                    answer = await client.post(
                        f"/api/v3/meeting/{meeting_id}/{action}", headers=actor.auth
                    )
                    assert answer.status_code in (200, 409), answer.text
                    if answer.status_code == 200:
                        changes[meeting_id].append((action, actor.id))
            await asyncio.sleep(0.05)

    stop_worker = asyncio.Event()
    running = asyncio.create_task(worker.run(stop_worker))
    loading = asyncio.create_task(load())
    try:
        for phase, seconds in (
            ("accept", 1.5),
            ("hang", 3.0),
            ("silent", 2.5),
            ("closed", 2.0),
            ("refuse", 2.0),
        ):
            sender.phase = phase
            handler.mode = phase if phase in ("hang", "refuse") else "accept"
            await proxy.set_mode(phase if phase in ("silent", "closed") else "pass")
            await asyncio.sleep(seconds)
        stop_load.set()
        await asyncio.wait_for(loading, timeout=60)
        sender.phase, handler.mode = "recovered", "accept"
        await proxy.set_mode("pass")
        # Everything written so far gets delivered, within a bound.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with sessionmaker() as session:
                # The changes' own notices; timed ones (reminders, nudges) are days ahead.
                own = select(Notification.status).where(Notification.schedule_key.is_(None))
                statuses = Counter((await session.scalars(own)).all())
            if statuses and set(statuses) == {"sent"}:
                break
            await asyncio.sleep(0.2)
    finally:
        stop_load.set()
        stop_worker.set()
        await asyncio.wait_for(running, timeout=30)
        if not loading.done():
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
        handler.mode = "accept"
        await proxy.stop()
        controller.stop()

    assert set(statuses) == {"sent"}, statuses
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Notification.id, Notification.meeting_id, Notification.event).where(
                    Notification.schedule_key.is_(None)
                )
            )
        ).all()
        emails = dict((await session.execute(select(User.id, User.email))).all())
    event_of = {nid: event for nid, _, event in rows}
    counts = handler.counts()
    # Nothing lost, nothing made up; a hung DATA that timed out never went through here.
    # (One Message-ID per notification; its right-hand side is the meeting's own.)
    assert len({notification_and_meeting(m) for m in counts}) == len(counts)
    assert {notification_and_meeting(m) for m in counts} == {(n, m) for n, m, _ in rows}
    # Each meeting's mail is exactly what its successful changes call for.
    got: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)
    for delivery in {d.message_id: d for d in handler.snapshot()}.values():
        found = MESSAGE_ID.fullmatch(delivery.message_id)
        assert found
        address = delivery.to.split("<")[-1].rstrip(">")
        got[int(found.group(2))][(event_of[int(found.group(1))], address)] += 1
    for meeting_id, (requester, recipient) in parties.items():
        wanted = expected_recipients(requester, recipient, changes[meeting_id])
        expected = Counter({(event, emails[user]): n for (event, user), n in wanted.items()})
        assert got[meeting_id] == expected, (meeting_id, changes[meeting_id])

    # The SMTP timeout bounded every attempt, whatever the server did.
    by_phase: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Counter[str]] = defaultdict(Counter)
    for phase, seconds, outcome in sender.sends:
        by_phase[phase].append(seconds)
        outcomes[phase][outcome] += 1
    longest = max(seconds for _, seconds, _ in sender.sends)
    assert longest < 3 * SMTP_TIMEOUT + 2, longest
    for phase in ("hang", "silent", "closed", "refuse"):
        assert outcomes[phase]["TemporaryDeliveryError"] > 0, (phase, dict(outcomes[phase]))
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"\n{len(parties)} meetings, {len(rows)} notifications, all sent; duplicates at the "
        f"sink: {duplicates}; longest send {longest:.2f} s (timeout {SMTP_TIMEOUT} s)"
    )
    for phase, values in by_phase.items():
        print(f"  {phase:<9} {dict(outcomes[phase])} longest {max(values):.2f} s")
