"""`meetbook serve --workers 2` as a real process: every scrape shows the true totals.

Each uvicorn process counts what it delivers and what it answers; a scrape lands on
either process. The test sends meeting requests (whose emails the in-process workers of
both processes deliver to the dev mailbox) and scrapes repeatedly: every scrape must show
the database's own count of sent notifications once delivery is done, and no series may
ever go down from one scrape to the next.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.metrics import CHANNELS
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
)
from tests.metrics_text import Series, parse, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

START_SECONDS = 120.0
DRAIN_SECONDS = 120.0
CREATES = 10
SCRAPES = 12
WORKERS_2_DEMO = ("--workers", "2", "--demo")
TOKEN = re.compile(r"^\s+(\S+) .*?(\S+@example\.com).* token: (\S+)$", re.MULTILINE)
COUNTERS = (
    "meetbook_notifications_sent_total",
    "meetbook_notifications_failed_total",
    "meetbook_notifications_retried_total",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest_asyncio.fixture(params=BACKENDS)
async def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of its own: the server's workers deliver everything pending."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/serve.db"
        return
    await require_postgres()
    url = await create_postgres_database(POSTGRES_URL)
    yield url
    await drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture
def served(fresh_database: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`meetbook serve --workers 2 --demo` (worker in-process); its URL and its output."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEETBOOK_", "PROMETHEUS_"))}
    env |= {
        "MEETBOOK_DATABASE_URL": fresh_database,
        "MEETBOOK_SECRET_KEY": "serve-metrics-test-secret-" + "x" * 32,
        "MEETBOOK_LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "meetbook.cli", "serve", "--port", str(port), *WORKERS_2_DEMO],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()[-4000:]
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"serve never became ready:\n{log_path.read_text()[-4000:]}")
        yield base_url, log_path.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 0, log_path.read_text()[-4000:]


def scrape(base_url: str) -> dict[Series, float]:
    # A new connection each time, so scrapes are spread over the processes.
    response = httpx.get(f"{base_url}/metrics", timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200
    return parse(response.text)


def assert_never_down(scrapes: list[dict[Series, float]]) -> None:
    for before, after in itertools.pairwise(scrapes):
        for series, earlier in before.items():
            name = series[0]
            if name.endswith(("_total", "_count", "_sum", "_bucket")):
                assert after.get(series, 0.0) >= earlier, (series, earlier, after.get(series))


async def sent_in_database(database_url: str) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            # Each request's "still waiting" nudge is planned for a day before it: only
            # what is due now counts.
            rows = await connection.execute(
                text(
                    "SELECT status, count(*) FROM notifications"
                    " WHERE schedule_key IS NULL GROUP BY status"
                )
            )
            counts = dict(rows.tuples().all())
    finally:
        await engine.dispose()
    return int(counts.get("sent", 0)), int(counts.get("pending", 0))


async def test_every_scrape_of_two_processes_shows_the_true_totals(
    served: tuple[str, str], fresh_database: str
) -> None:
    base_url, output = served
    tokens = {email: token for _, email, token in TOKEN.findall(output)}
    ana, ben_id = tokens["ana@example.com"], re.search(r"Ben Carter\s+id=(\d+)", output)
    team_id = re.search(r"Demo team id (\d+)", output)
    assert ben_id and team_id, output

    scrapes = [scrape(base_url) for _ in range(SCRAPES)]
    for samples in scrapes:  # from start-up, every counter at 0 for every channel
        for name in COUNTERS:
            for channel in CHANNELS:
                assert (name, frozenset({("channel", channel)})) in samples
                assert value(samples, name, channel=channel) == 0

    date = (datetime.now(UTC) + timedelta(days=7)).strftime("%Y-%m-%d 15:00:00")
    body = {"user_id": int(ben_id.group(1)), "team_id": int(team_id.group(1)), "date": date}
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ana}"}) as http:
        for _ in range(CREATES):
            assert http.post("/api/v3/meeting/create", json=body).status_code == 201

    deadline = time.monotonic() + DRAIN_SECONDS
    while (await sent_in_database(fresh_database)) != (CREATES, 0):
        assert time.monotonic() < deadline, await sent_in_database(fresh_database)
        scrapes.append(scrape(base_url))  # scrapes while delivery is under way, too
        time.sleep(0.05)
    true_total, _ = await sent_in_database(fresh_database)

    final = [scrape(base_url) for _ in range(SCRAPES)]
    readings = [value(s, "meetbook_notifications_sent_total", channel="email") for s in final]
    assert readings == [true_total] * SCRAPES
    for samples in final:
        creates = {"method": "POST", "route": "/api/v3/meeting/create", "status": "201"}
        assert value(samples, "meetbook_http_requests_total", **creates) == CREATES
        count = "meetbook_notification_delivery_seconds_count"
        assert value(samples, count, channel="email") == true_total
    assert_never_down(scrapes + final)
