"""`meetbook worker --metrics-port` serves its own /metrics: the sends it made, from 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.metrics import CHANNELS
from meetbook.models import Notification
from tests.conftest import World, clean_environment, create_meeting, future
from tests.metrics_text import Series, parse, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

START_SECONDS = 90.0
DRAIN_SECONDS = 120.0
MEETINGS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def scrape(port: int) -> dict[Series, float] | None:
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    except httpx.HTTPError:
        return None
    assert response.status_code == 200
    return parse(response.text)


async def sent_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).where(Notification.status == "sent")
        return int(await session.scalar(query) or 0)


async def test_worker_serves_its_delivery_counts_on_its_metrics_port(
    database_url: str,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    clock,
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEETBOOK_", "PROMETHEUS_"))}
    env |= {  # no SMTP host: the worker delivers to the dev mailbox
        "MEETBOOK_DATABASE_URL": database_url,
        "MEETBOOK_SECRET_KEY": "worker-metrics-secret-" + "x" * 32,
        "MEETBOOK_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "meetbook.cli", "worker", "--metrics-port", str(port)]
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while (first := await scrape(port)) is None:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the worker's /metrics never answered"
            await asyncio.sleep(0.1)
        for name in ("sent", "failed", "retried"):
            for channel in CHANNELS:
                series = (f"meetbook_notifications_{name}_total", frozenset({("channel", channel)}))
                assert first.get(series) == 0, series
        # Not the worker's to report: the API reads the queue from the database.
        assert not any(n == "meetbook_notifications_queue_depth" for n, _ in first)

        ana, ben = await world.person("Ana"), await world.person("Ben")
        team_id = await world.team(ana, ben)
        for day in range(MEETINGS):
            created = await create_meeting(client, ana, ben, team_id, future(clock, days=day + 2))
            assert created.status_code == 201

        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            samples = await scrape(port)
            assert samples is not None
            sent = value(samples, "meetbook_notifications_sent_total", channel="email")
            if sent == MEETINGS:
                break
            assert sent < MEETINGS and time.monotonic() < deadline, (sent, log_path.read_text())
            await asyncio.sleep(0.1)
        assert await sent_rows(sessionmaker) == MEETINGS
        count = "meetbook_notification_delivery_seconds_count"
        assert value(samples, count, channel="email") == MEETINGS
        assert value(samples, "meetbook_notifications_failed_total", channel="email") == 0
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log_path.read_text()


def test_a_taken_metrics_port_is_one_line_and_nonzero(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        env = clean_environment()
        env["MEETBOOK_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/w.db"
        result = subprocess.run(
            [sys.executable, "-m", "meetbook.cli", "worker", "--metrics-port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"meetbook worker: 127.0.0.1:{port} is already in use (is meetbook already running?)"
    ]
