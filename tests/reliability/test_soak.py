"""The short soak in CI: `bench/soak.py` for 20 s per backend (MEETBOOK_SOAK_SECONDS).

Mixed load on `meetbook serve` with its in-process worker and an SMTP sink; afterwards
every meeting has exactly its expected emails by Message-ID, no answer was a 5xx, and
no server process grew by more than a generous bound once warmed up.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench.soak import run_soak

from tests.conftest import BACKENDS
from tests.reliability.harness import fresh_database

pytestmark = pytest.mark.timeout(300)

SECONDS = float(os.environ.get("MEETBOOK_SOAK_SECONDS", "20"))
# A leak worth the name grows with the request count; warm-up (imports, pools, caches)
# is excluded. 48 MiB over 20 s of about a thousand requests is far beyond noise.
RSS_GROWTH_BOUND_KIB = 48 * 1024


@pytest.mark.parametrize("backend", BACKENDS)
async def test_mixed_load_soak_delivers_exactly_the_expected_emails(
    backend: str, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path) as url:
        report = await run_soak(
            url, tmp_path, duration=SECONDS, workers=2 if backend == "postgres" else 1
        )
    print("\n" + "\n".join(report.lines()))
    assert report.five_xx == 0
    assert report.unanswered == 0
    assert {o.status for o in report.outcomes} <= {200, 201, 409}
    assert len(report.meetings) > 30
    assert report.mismatches == []
    assert report.duplicates == 0
    # SIGTERM ends in a graceful shutdown of every API process (uvicorn alone re-raises
    # the signal after it, so its status is -15; under --workers the supervisor's is 0).
    assert report.exit_status in (0, -15)
    assert report.shutdown_complete == (2 if backend == "postgres" else 1)
    # Every API process logs as JSON, also those uvicorn spawns for --workers 2.
    assert report.logged_sent == report.notifications
    for pid in report.rss:
        assert report.rss_growth_kib(pid) < RSS_GROWTH_BOUND_KIB, report.rss[pid]
