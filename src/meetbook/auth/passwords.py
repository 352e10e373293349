"""Argon2 password hashing (pwdlib's recommended settings), off the event loop.

A check costs a fraction of a second of CPU by design. It runs in a small thread pool of
its own (argon2-cffi releases the GIL), one thread per CPU, so sign-ins are checked in
parallel up to the machine's cores, wait their turn beyond that, and every other
request is served meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import cache
from typing import TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from meetbook.config import password_hash_profile

T = TypeVar("T")


@cache
def _hasher() -> PasswordHash:
    if password_hash_profile() == "fast":
        # Test-only (config.PASSWORD_HASH_PROFILE_ENV): Argon2's minimum cost.
        return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
    return PasswordHash.recommended()


# Argon2 hashes with 4 lanes, i.e. 4 threads of its own per check, which would otherwise
# outnumber the event loop's single thread for the CPU and slow every other request.
# Linux applies niceness per thread and the lanes inherit it from the pool's thread.
ARGON2_NICENESS = 10


def _lower_priority() -> None:
    with suppress(OSError, AttributeError):  # not Linux, or not allowed: run as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ARGON2_NICENESS)


@cache
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=os.cpu_count() or 1, thread_name_prefix="argon2", initializer=_lower_priority
    )


@cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown, so a wrong email costs as long as a wrong
    # password and response times do not reveal which accounts exist. Made on first use
    # (in the pool), not at import: it costs as much as a sign-in.
    return _hasher().hash("meetbook-timing-equaliser")


async def _off_loop(work: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor(), work)


async def hash_password(password: str) -> str:
    return await _off_loop(lambda: _hasher().hash(password))


async def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        await _off_loop(lambda: _hasher().verify(password, _dummy_hash()))
        return False
    return await _off_loop(lambda: _hasher().verify(password, password_hash))
