"""A `meetbook worker` process killed mid-delivery: the next worker redelivers the message
under the same `webhook-id`, so the receiver can tell it is the same one."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from meetbook.models import Notification
from tests.conftest import MovableClock, clean_environment, create_meeting, future
from tests.notifications.test_worker_processes import (
    DRAIN_SECONDS,
    EXIT_SECONDS,
    START_SECONDS,
    WorkerProcess,
    wait_until,
)
from tests.webhooks.conftest import Team, add_webhook
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def start_worker(database_url: str, workdir: Path) -> WorkerProcess:
    workdir.mkdir()  # its own working directory, so no developer's .env is read
    env = clean_environment()
    env.update(
        MEETBOOK_DATABASE_URL=database_url,
        MEETBOOK_SECRET_KEY="test-secret-key-" + "x" * 32,
        MEETBOOK_BASE_URL="http://meetbook.test",
        MEETBOOK_ALLOW_PRIVATE_TARGETS="1",  # the receiver listens on 127.0.0.1
        MEETBOOK_LOG_LEVEL="info",
    )
    log_path = workdir / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "meetbook.cli", "worker", "--concurrency", "2"],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, log_path)


async def _webhook_rows(sessionmaker: Any) -> list[Notification]:
    async with sessionmaker() as session:
        query = select(Notification).where(Notification.channel == "webhook")
        return list((await session.scalars(query)).all())


async def test_a_worker_killed_mid_delivery_redelivers_with_the_same_webhook_id(
    client: httpx.AsyncClient,
    team: Team,
    receiver: Receiver,
    clock: MovableClock,
    database_url: str,
    sessionmaker: Any,
    tmp_path: Path,
) -> None:
    hook = await add_webhook(client, team, receiver)
    receiver.hold = True  # the receiver takes the request and does not answer yet
    await create_meeting(client, team.member, team.other, team.id, future(clock))

    workers = [start_worker(database_url, tmp_path / "first")]
    try:
        await wait_until(lambda: receiver.received, timeout=START_SECONDS, what="a delivery")
        workers[0].process.kill()
        assert await workers[0].wait_exit() == -signal.SIGKILL
        [row] = await _webhook_rows(sessionmaker)
        assert row.status == "pending" and row.lease_owner is not None

        # Stand-in for the 120 s lease running out, so the test need not wait for it.
        async with sessionmaker() as session, session.begin():
            await session.execute(
                update(Notification)
                .where(Notification.lease_owner.is_not(None))
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        receiver.hold = False
        receiver.gate.set()
        workers.append(start_worker(database_url, tmp_path / "second"))

        async def sent() -> bool:
            return [r.status for r in await _webhook_rows(sessionmaker)] == ["sent"]

        await wait_until(sent, timeout=DRAIN_SECONDS, what="the webhook row sent")
        assert await workers[1].terminate() == 0, workers[1].log_tail()
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait(timeout=EXIT_SECONDS)

    first, *rest = receiver.received
    assert rest, "the message was not delivered again"
    assert all(r.refused is None for r in receiver.received)
    assert {r.headers["webhook-id"] for r in receiver.received} == {first.headers["webhook-id"]}
    assert {r.body for r in receiver.received} == {first.body}
    log = (
        await client.get(
            f"/api/v3/teams/{team.id}/webhooks/{hook['id']}/deliveries", headers=team.admin.auth
        )
    ).json()["data"]
    assert [(a["attempt"], a["status_code"]) for a in log] == [(2, 200)]
    assert log[0]["message_id"] == first.headers["webhook-id"]
