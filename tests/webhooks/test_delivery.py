"""Webhook deliveries from the worker to a local receiver that verifies them with the
reference library (`standardwebhooks`), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from meetbook.models import DevEmail, Notification, User, Webhook
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.retention import delete_expired
from meetbook.notifications.worker import OutboxWorker, Providers
from meetbook.webhooks.delivery import DISABLE_AFTER, EXCERPT_CHARS, WebhookRetry
from tests.conftest import MovableClock, create_meeting, future, settings_for
from tests.webhooks.conftest import FAST, Team, add_webhook
from tests.webhooks.receiver import Receiver


async def _rows(sessionmaker: Any, webhook_id: int) -> list[Notification]:
    async with sessionmaker() as session:
        query = select(Notification).where(
            Notification.webhook_id == webhook_id, Notification.channel == "webhook"
        )
        return list((await session.scalars(query.order_by(Notification.id))).all())


async def _log(client: httpx.AsyncClient, team: Team, hook: dict[str, Any]) -> list[dict[str, Any]]:
    answer = await client.get(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/deliveries", headers=team.admin.auth
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]  # type: ignore[no-any-return]


async def test_a_change_reaches_the_receiver_signed_with_the_meeting_as_the_api_shows_it(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
) -> None:
    hook = await add_webhook(client, team, receiver)
    made = (await create_meeting(client, team.member, team.other, team.id, future(clock))).json()
    await worker.drain()

    [got] = receiver.received
    assert got.refused is None  # Webhook(secret).verify accepted it
    assert got.headers["webhook-id"].startswith("msg_")
    assert got.headers["webhook-signature"].startswith("v1,")
    assert got.headers["Content-Type"] == "application/json"
    assert got.payload["type"] == "meeting-created"
    assert got.payload["timestamp"] == made["created_at"]
    assert got.payload["data"] == {"meeting": made, "actor_id": team.member.id}

    [attempt] = await _log(client, team, hook)
    assert attempt["event"] == "meeting-created" and attempt["status_code"] == 200
    assert attempt["attempt"] == 1 and attempt["message_id"] == got.headers["webhook-id"]
    assert attempt["response_excerpt"] == "ok" and attempt["error"] is None
    assert set(attempt) == {
        "id",
        "message_id",
        "event",
        "attempt",
        "status_code",
        "at",
        "response_excerpt",
        "error",
    }


async def test_a_500_is_retried_with_the_same_webhook_id_until_a_200(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    worker_clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.answers = [500]
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    [row] = await _rows(sessionmaker, hook["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "the endpoint answered 500"
    assert row.next_attempt_at > worker_clock.now  # not due before its backoff

    worker_clock.advance(seconds=2)
    await worker.drain()
    first, second = receiver.received
    assert first.refused is None and second.refused is None
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    [row] = await _rows(sessionmaker, hook["id"])
    assert (row.status, row.attempts) == ("sent", 2)
    log = await _log(client, team, hook)
    assert [(a["attempt"], a["status_code"]) for a in log] == [(2, 200), (1, 500)]
    assert log[1]["error"] == "the endpoint answered 500"


async def test_a_410_disables_the_endpoint(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.answers = [410]
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    [row] = await _rows(sessionmaker, hook["id"])
    assert row.status == "failed" and "disabled" in (row.last_error or "")
    [listed] = (
        await client.get(f"/api/v3/teams/{team.id}/webhooks", headers=team.admin.auth)
    ).json()["data"]
    assert listed["enabled"] is False
    assert listed["disabled_reason"] == "the endpoint answered 410 Gone"

    # Nothing more is queued for it, and it cannot be pinged.
    await create_meeting(client, team.member, team.other, team.id, future(clock, 9))
    assert len(await _rows(sessionmaker, hook["id"])) == 1
    ping = await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    assert ping.status_code == 409
    assert ping.json()["message"].startswith(
        "This webhook is disabled (the endpoint answered 410 Gone)"
    )


async def test_an_endpoint_failing_for_days_is_disabled_and_its_admins_are_emailed(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    worker_clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.answers = [500] * 10
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    [row] = await _rows(sessionmaker, hook["id"])
    assert row.status == "pending"

    worker_clock.advance(seconds=DISABLE_AFTER.total_seconds() + 60)
    await worker.drain()  # the retry fails three days after the first failure: disabled
    await worker.drain()  # the note to the admins
    [row] = await _rows(sessionmaker, hook["id"])
    assert row.status == "failed"
    async with sessionmaker() as session:
        stored = await session.get(Webhook, hook["id"])
        mails = (await session.scalars(select(DevEmail))).all()
    assert stored.enabled is False
    assert stored.disabled_reason == "every delivery failed for 3 days"
    [note] = [m for m in mails if "webhook" in m.subject]
    assert note.subject == "A webhook of Acme was disabled"
    assert team.admin.email in note.to_address
    assert receiver.url in note.raw and "every delivery failed for 3 days" in note.raw


async def test_a_success_ends_the_failure_streak(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    worker_clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.answers = [500]
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    worker_clock.advance(seconds=2)
    await worker.drain()
    async with sessionmaker() as session:
        stored = await session.get(Webhook, hook["id"])
    assert stored.enabled is True and stored.failing_since is None


async def test_a_replayed_delivery_is_refused_by_the_receiver(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    worker_clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    [captured] = receiver.verified
    verifier = Verifier(receiver.secret)

    # Sent again as captured but later than the receiver's tolerance (5 minutes): the
    # worker's clock stands in for the passing time.
    worker_clock.advance(minutes=-6)
    await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Notification)
            .where(Notification.status == "pending")
            .values(next_attempt_at=worker_clock.now)
        )
    await worker.drain()
    late = receiver.received[-1]
    assert late.refused == "Message timestamp too old"
    # A captured message with a fresh timestamp header no longer matches its signature.
    fresh = str(int(captured.headers["webhook-timestamp"]) + 90)
    headers = {**captured.headers, "webhook-timestamp": fresh}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(captured.body, headers)
    log = await _log(client, team, hook)
    assert log[0]["status_code"] == 400 and log[0]["event"] == "ping"


async def test_test_sends_a_ping_and_redeliver_resends_the_same_message(
    client: httpx.AsyncClient, team: Team, receiver: Receiver, worker: OutboxWorker
) -> None:
    hook = await add_webhook(client, team, receiver)
    base = f"/api/v3/teams/{team.id}/webhooks/{hook['id']}"
    ping = await client.post(f"{base}/test", headers=team.admin.auth)
    assert ping.status_code == 202
    await worker.drain()
    [got] = receiver.verified
    assert got.headers["webhook-id"] == ping.json()["message_id"]
    assert got.payload["type"] == "ping"
    assert got.payload["data"] == {"meeting": None, "actor_id": team.admin.id}

    [attempt] = await _log(client, team, hook)
    again = await client.post(
        f"{base}/deliveries/{attempt['id']}/redeliver", headers=team.admin.auth
    )
    assert again.status_code == 202 and again.json() == ping.json()
    await worker.drain()
    first, second = receiver.verified
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body
    missing = await client.post(f"{base}/deliveries/999999/redeliver", headers=team.admin.auth)
    assert missing.status_code == 404
    assert missing.json() == {"error": 404, "message": "Delivery 999999 was not found."}


async def test_only_a_short_excerpt_of_the_answer_is_kept(
    client: httpx.AsyncClient, team: Team, receiver: Receiver, worker: OutboxWorker
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.body = "é" * 5000
    await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    await worker.drain()
    [attempt] = await _log(client, team, hook)
    assert attempt["response_excerpt"] == "é" * EXCERPT_CHARS


async def test_a_receiver_that_does_not_answer_times_out(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.hold = True
    worker._webhooks.timeout = 0.5  # 10 s in production
    await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    await worker.drain()
    [attempt] = await _log(client, team, hook)
    assert attempt["status_code"] is None
    assert attempt["error"] == "no answer within 0.5 seconds"
    [row] = await _rows(sessionmaker, hook["id"])
    assert row.status == "pending"  # retried later


async def test_the_guard_runs_again_before_each_call(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    sessionmaker: Any,
    database_url: str,
    tmp_path: Any,
    worker_clock: MovableClock,
) -> None:
    """Saved while private targets were allowed; the worker of a stricter operator refuses."""
    hook = await add_webhook(client, team, receiver)
    await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    strict = settings_for(database_url, tmp_path, allow_private_targets=False)
    worker = OutboxWorker(
        sessionmaker,
        Providers(email=DevMailbox(sessionmaker)),
        strict,
        webhook_retry=FAST,
        clock=worker_clock,
    )
    await worker.drain()
    assert receiver.received == []
    [attempt] = await _log(client, team, hook)
    assert attempt["status_code"] is None
    assert attempt["error"] == "the URL is not allowed because it must be an https URL"


def test_the_default_schedule_retries_within_a_minute_and_for_about_three_days() -> None:
    retry = WebhookRetry()
    first = [retry.delay(1) for _ in range(200)]
    assert max(first) <= 60
    low = sum(step * 0.8 for step in retry.schedule)
    high = sum(step * 1.2 for step in retry.schedule)
    assert timedelta(days=2.5) < timedelta(seconds=low) and timedelta(seconds=high) < timedelta(
        days=4
    )
    assert retry.max_attempts == len(retry.schedule) + 1
    total = sum(retry.delay(attempt) for attempt in range(1, retry.max_attempts))
    assert timedelta(days=2.5) < timedelta(seconds=total) < timedelta(days=4)
    assert len({round(retry.delay(3), 3) for _ in range(20)}) > 1  # jittered


async def test_retention_deletes_old_attempts(
    app: Any,
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    worker_clock: MovableClock,
    sessionmaker: Any,
) -> None:
    hook = await add_webhook(client, team, receiver)
    await client.post(
        f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/test", headers=team.admin.auth
    )
    await worker.drain()
    settings = app.state.settings
    kept = await delete_expired(sessionmaker, settings, worker_clock.now + timedelta(days=1))
    assert kept["webhook_attempts"] == 0
    later = worker_clock.now + timedelta(days=settings.retention_days + 1)
    assert (await delete_expired(sessionmaker, settings, later))["webhook_attempts"] == 1
    assert await _log(client, team, hook) == []


async def test_the_disabled_note_speaks_its_admin_s_language(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    worker: OutboxWorker,
    clock: MovableClock,
    sessionmaker: Any,
) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == team.admin.id).values(locale="de"))
    hook = await add_webhook(client, team, receiver)
    receiver.answers = [410]
    await create_meeting(client, team.member, team.other, team.id, future(clock))
    await worker.drain()
    await worker.drain()  # the note to the admins
    async with sessionmaker() as session:
        stored = await session.get(Webhook, hook["id"])
        mails = (await session.scalars(select(DevEmail))).all()
    # The API's reason stays English; the admin's email is German.
    assert stored.disabled_reason == "the endpoint answered 410 Gone"
    [note] = [m for m in mails if "Webhook" in m.subject]
    assert note.subject == "Ein Webhook von Acme wurde deaktiviert"
    assert "weil der Endpunkt mit 410 Gone geantwortet hat." in note.raw
