"""meetbook.ratelimit: the limiter the login form (and later the API) uses."""

from __future__ import annotations

import os
import secrets
import socket
from urllib.parse import urlsplit

import pytest

from meetbook.ratelimit import RateLimiter, retry_after_header


async def test_hits_are_allowed_until_the_rule_is_exceeded() -> None:
    limiter = RateLimiter("memory://")
    results = [await limiter.hit("3/minute", "login", "ana") for _ in range(4)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and 1 <= results[3] <= 60


async def test_keys_are_counted_separately() -> None:
    limiter = RateLimiter()
    assert await limiter.hit("1/minute", "login", "ana") is None
    assert await limiter.hit("1/minute", "login", "ben") is None
    assert await limiter.hit("1/minute", "login", "ana") is not None


async def test_clear_forgets_the_hits() -> None:
    limiter = RateLimiter()
    await limiter.hit("1/minute", "k")
    await limiter.clear("1/minute", "k")
    assert await limiter.hit("1/minute", "k") is None


async def test_an_unreachable_storage_lets_requests_through() -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    assert await limiter.hit("1/minute", "k") is None
    assert await limiter.hit("1/minute", "k") is None


def test_retry_after_rounds_up() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(59.01) == "60"


REDIS_URL = os.environ.get("MEETBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1):
            return True
    except OSError:
        return False


async def test_redis_storage_is_shared_between_limiters() -> None:
    if not _redis_answers(REDIS_URL):
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    first, second = RateLimiter(REDIS_URL), RateLimiter(REDIS_URL)
    key = secrets.token_hex(8)  # a fresh counter, whatever the database holds
    assert await first.hit("2/minute", "test", key) is None
    assert await second.hit("2/minute", "test", key) is None
    wait = await first.hit("2/minute", "test", key)
    assert wait is not None and wait <= 60
    await first.clear("2/minute", "test", key)
