"""Password hashing runs off the event loop; the test-only cheap profile stays compatible."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from pwdlib import PasswordHash
from sqlalchemy import update

from meetbook.auth import passwords
from meetbook.config import PASSWORD_HASH_PROFILE_ENV
from meetbook.models import User
from tests.conftest import World
from tests.live_server import live_server

PASSWORD = "correct horse battery staple"


async def test_healthz_answers_while_sign_ins_are_checked_with_production_argon2(
    app: Any, world: World
) -> None:
    # The suite hashes cheaply (tests/conftest.py); a stored hash carries its own
    # parameters, so this one costs production Argon2 (~0.3 s of CPU) at every check.
    production_hash = PasswordHash.recommended().hash(PASSWORD)
    ana = await world.person("Ana")
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.id == ana.id).values(password_hash=production_hash)
        )
    async with (
        live_server(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=60) as http,
    ):

        async def sign_in() -> int:
            response = await http.post(
                "/api/v3/auth/token", json={"email": ana.email, "password": PASSWORD}
            )
            return response.status_code

        blocked = 0.0  # the event loop's stalls over 0.1 s, summed

        async def watch_loop() -> None:
            nonlocal blocked
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                stall = time.perf_counter() - before - 0.01
                blocked += stall if stall > 0.1 else 0.0

        watcher = asyncio.create_task(watch_loop())
        started = time.perf_counter()
        sign_ins = [asyncio.create_task(sign_in()) for _ in range(4)]
        await asyncio.sleep(0.05)
        probes: list[float] = []
        while not all(task.done() for task in sign_ins):
            probe = time.perf_counter()
            assert (await http.get("/healthz")).status_code == 200
            probes.append(time.perf_counter() - probe)
            await asyncio.sleep(0.05)
        checked_in = time.perf_counter() - started
        watcher.cancel()
        assert [task.result() for task in sign_ins] == [201] * 4
    # Before, the checks ran on the loop one after another: the loop stood still for each
    # (0.3 s or more, 1.2 s or more in all) and probes waited for a whole check. Medians
    # and sums, as a busy shared machine can stall any one moment.
    assert len(probes) >= 3, (probes, checked_in)  # the probes ran while Argon2 worked
    assert blocked < 0.75, (blocked, checked_in)
    assert statistics.median(probes) < 0.2, (probes, checked_in)


async def test_hashes_of_either_profile_verify_under_both() -> None:
    standard = PasswordHash.recommended().hash(PASSWORD)
    fast = await passwords.hash_password(PASSWORD)  # the suite's profile
    assert "m=8," in fast and "m=65536," in standard
    assert await passwords.verify_password(PASSWORD, standard)
    assert not await passwords.verify_password("wrong", standard)
    assert PasswordHash.recommended().verify(PASSWORD, fast)
    assert not await passwords.verify_password(PASSWORD, None)  # the unknown-email path


def test_importing_the_app_computes_no_hash_and_the_profile_is_checked() -> None:
    code = (
        "import meetbook.app, meetbook.auth.passwords as p;"
        "print(p._dummy_hash.cache_info().currsize, p._hasher.cache_info().currsize)"
    )
    env = {**os.environ, PASSWORD_HASH_PROFILE_ENV: "standard"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["0", "0"], done.stderr
    env[PASSWORD_HASH_PROFILE_ENV] = "cheap"
    code = "import asyncio, meetbook.auth.passwords as p; asyncio.run(p.hash_password('x'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "MEETBOOK_PASSWORD_HASH_PROFILE: must be standard or fast" in done.stderr
