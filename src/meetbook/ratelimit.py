"""Rate limiting with the `limits` library, shared by the web page and the API.

Rules are `limits` strings such as "10/minute" or "50 per hour"; several joined by `;`
("30/hour;200/day") must all hold. Counters live in the
storage named by `MEETBOOK_RATE_LIMIT_STORAGE`: `memory://` (one process, kept here in
`_MemoryWindows`) or `redis://host:6379/0` (shared by every process and host, through
limits' asyncio API). A moving window is used, so a burst at a window's edge cannot
double the allowance.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import deque
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("meetbook.ratelimit")

# The `redis` package is what the project installs; limits' asyncio Redis storage
# would otherwise look for `coredis`.
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")


@functools.cache
def _rules(rule: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rule))


def _async_uri(uri: str) -> tuple[str, dict[str, Any]]:
    scheme = uri.split("://", 1)[0].lower().removeprefix("async+")
    options: dict[str, Any] = {}
    if scheme in _REDIS_SCHEMES:
        options["implementation"] = "redispy"
    return f"async+{uri.removeprefix('async+')}", options


class _MemoryWindows:
    """Moving windows in this process's memory: a hit touches only its own key.

    limits' asyncio memory storage follows every hit with a sweep of all keys, one
    `asyncio.to_thread` call per key; under steady API traffic that sweep never stops
    and cost about 0.5 ms of CPU per request (see docs/benchmarks.md). Here each key
    keeps the times of its hits inside the window, oldest first, and idle keys are
    dropped by an occasional sweep.
    """

    SWEEP_EVERY = 4096

    def __init__(self) -> None:
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._count = 0

    def hit(self, item: RateLimitItem, keys: tuple[str, ...]) -> float | None:
        now = time.monotonic()
        window = float(item.get_expiry())
        key = item.key_for(*keys)
        stamps = self._hits.setdefault(key, (window, deque()))[1]
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= item.amount:
            return max(1.0, stamps[0] + window - now)
        stamps.append(now)
        self._count += 1
        if self._count % self.SWEEP_EVERY == 0:
            self._sweep(now)
        return None

    def clear(self, item: RateLimitItem, keys: tuple[str, ...]) -> None:
        self._hits.pop(item.key_for(*keys), None)

    def reset(self) -> None:
        self._hits.clear()

    def _sweep(self, now: float) -> None:
        idle = [k for k, (window, s) in self._hits.items() if not s or s[-1] <= now - window]
        for key in idle:
            del self._hits[key]


class RateLimiter:
    """Counts hits per (rule, keys) and says how long to wait once a rule is exceeded.

    When the storage itself fails (Redis down), requests are let through and the failure
    is logged: throttling is a defence, and an outage of it should not lock everyone out.
    """

    def __init__(self, storage_uri: str = "memory://", *, key_prefix: str | None = None) -> None:
        uri, options = _async_uri(storage_uri)
        # A prefix of its own keeps this limiter's Redis keys apart from other users of the
        # same Redis database (tests, a second deployment); memory storage is private anyway.
        if key_prefix and "implementation" in options:
            options["key_prefix"] = key_prefix
        self.storage_uri = storage_uri
        self._memory: _MemoryWindows | None = None
        if uri.split("://", 1)[0] == "async+memory":
            self._memory = _MemoryWindows()
            return
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, AsyncStorage)
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, rule: str, *keys: str) -> float | None:
        """Count one hit; None when allowed, else the seconds until a retry may succeed.

        With several rules, the first one exceeded answers (and the later ones are not
        counted, so a refused request does not use up a longer window's allowance).
        """
        for item in _rules(rule):
            wait = await self._hit_one(item, rule, keys)
            if wait is not None:
                return wait
        return None

    async def _hit_one(self, item: RateLimitItem, rule: str, keys: tuple[str, ...]) -> float | None:
        if self._memory is not None:
            return self._memory.hit(item, keys)
        try:
            if await self._strategy.hit(item, *keys):
                return None
            stats = await self._strategy.get_window_stats(item, *keys)
        except Exception as error:
            log.warning(
                "ratelimit.storage_error",
                extra={"error": f"{type(error).__name__}: {error}"[:300], "rule": rule},
            )
            return None
        return max(1.0, stats.reset_time - time.time())

    async def clear(self, rule: str, *keys: str) -> None:
        """Forget the hits of (rule, keys), for example after a successful sign-in."""
        try:
            for item in _rules(rule):
                if self._memory is not None:
                    self._memory.clear(item, keys)
                else:
                    await self._strategy.clear(item, *keys)
        except Exception as error:
            log.warning("ratelimit.storage_error", extra={"error": str(error)[:300], "rule": rule})

    async def reset(self) -> None:
        """Forget every counter (tests)."""
        if self._memory is not None:
            self._memory.reset()
            return
        await self._storage.reset()


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up so a client never retries too early."""
    return str(max(1, math.ceil(seconds)))
