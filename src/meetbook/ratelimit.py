"""Rate limiting with the `limits` library, shared by the web page and the API.

Rules are `limits` strings such as "10/minute" or "50 per hour". Counters live in the
storage named by `MEETBOOK_RATE_LIMIT_STORAGE`: `memory://` (one process) or
`redis://host:6379/0` (shared by every process and host), both through limits'
asyncio API. A moving window is used, so a burst at a window's edge cannot double the
allowance.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("meetbook.ratelimit")

# The `redis` package is what the project installs; limits' asyncio Redis storage
# would otherwise look for `coredis`.
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")


@functools.cache
def _rule(rule: str) -> RateLimitItem:
    return parse(rule)


def _async_uri(uri: str) -> tuple[str, dict[str, Any]]:
    scheme = uri.split("://", 1)[0].lower().removeprefix("async+")
    options: dict[str, Any] = {}
    if scheme in _REDIS_SCHEMES:
        options["implementation"] = "redispy"
    return f"async+{uri.removeprefix('async+')}", options


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
        storage = storage_from_string(uri, **options)
        assert isinstance(storage, AsyncStorage)
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, rule: str, *keys: str) -> float | None:
        """Count one hit; None when allowed, else the seconds until a retry may succeed."""
        item = _rule(rule)
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
            await self._strategy.clear(_rule(rule), *keys)
        except Exception as error:
            log.warning("ratelimit.storage_error", extra={"error": str(error)[:300], "rule": rule})

    async def reset(self) -> None:
        """Forget every counter (tests)."""
        await self._storage.reset()


def retry_after_header(seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up so a client never retries too early."""
    return str(max(1, math.ceil(seconds)))
