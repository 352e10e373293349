"""meetbook.ratelimit: the limiter the login form (and later the API) uses."""

from __future__ import annotations

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
