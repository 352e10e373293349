"""Rate limiting on the API: per token on every authenticated route, and on sign-in.

The Redis tests use MEETBOOK_TEST_REDIS_URL (default redis://127.0.0.1:6379/0) and are
skipped with a message when it does not answer, unless MEETBOOK_REQUIRE_REDIS=1. Their
counters live under a key prefix of their own, which is all they delete afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis_asyncio
from fastapi import FastAPI

import meetbook
from meetbook.accounts.tokenlimits import MAX_LIVE_TOKENS
from meetbook.app import create_app
from meetbook.auth.tokens import issue_token
from meetbook.config import Settings, SettingsError, load_settings
from meetbook.ratelimit import RateLimiter
from meetbook.server import per_process_limits_warning
from tests.conftest import Person, World, _empty_tables, create_meeting, settings_for
from tests.security.test_text_input import PASSWORD as STRONG_PASSWORD
from tests.security.test_text_input import web_sign_in
from tests.test_errors import assert_envelope

REDIS_URL = os.environ.get("MEETBOOK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("MEETBOOK_REQUIRE_REDIS") == "1"
PASSWORD = "correct horse battery"

# Every authenticated route, with a request that reaches the limiter (auth runs first).
AUTHENTICATED = [
    ("GET", "/api/v3/me"),
    ("PATCH", "/api/v3/me"),
    ("GET", "/api/v3/teams"),
    ("GET", "/api/v3/teams/1/members"),
    ("GET", "/api/v3/meeting/list"),
    ("GET", "/api/v3/meeting/pending"),
    ("POST", "/api/v3/meeting/create"),
    ("GET", "/api/v3/meeting/1"),
    ("POST", "/api/v3/meeting/1/confirm"),
    ("POST", "/api/v3/meeting/1/reject"),
    ("POST", "/api/v3/meeting/1/cancel"),
    ("GET", "/api/v3/meeting/1/notifications"),
    ("POST", "/api/v3/devices"),
    ("DELETE", "/api/v3/devices/1"),
    ("GET", "/api/v3/push/vapid-public-key"),
    ("DELETE", "/api/v3/auth/token"),
    ("GET", "/api/v3/me/working-hours"),
    ("PUT", "/api/v3/me/working-hours"),
    ("GET", "/api/v3/teams/1/members/1/free-slots"),
    ("PATCH", "/api/v3/teams/1"),
    ("POST", "/api/v3/me/calendar-feed"),
    ("DELETE", "/api/v3/me/calendar-feed"),
]


@pytest.fixture
async def make_client(database_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`make_client(address=..., limiter=..., **settings)`: a client of a new app on the
    test database, as seen from `address`. Apps made in one test share the database."""
    await _empty_tables(database_url)
    async with AsyncExitStack() as stack:

        async def make(
            address: str = "127.0.0.1", limiter: RateLimiter | None = None, **settings: Any
        ) -> tuple[FastAPI, httpx.AsyncClient]:
            app = create_app(settings_for(database_url, tmp_path, **settings))
            if limiter is not None:
                app.state.rate_limiter = limiter
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=(address, 50000))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://meetbook.test")
            )
            return app, client

        yield make


def assert_throttled(response: httpx.Response) -> None:
    assert_envelope(response, 429)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert f"{retry_after} seconds" in response.json()["message"]


# --- per token -----------------------------------------------------------------------------


async def test_the_request_over_the_limit_is_429_with_retry_after(make_client) -> None:
    app, client = await make_client(rate_limit_api="3/minute")
    ana = await World(app.state.sessionmaker).person()
    for _ in range(3):
        assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200
    assert_throttled(await client.get("/api/v3/me", headers=ana.auth))


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
async def test_every_authenticated_route_is_limited(make_client, method, path) -> None:
    app, client = await make_client(rate_limit_api="1/minute")
    ana = await World(app.state.sessionmaker).person()
    await client.get("/api/v3/teams", headers=ana.auth)  # the one allowed request
    response = await client.request(method, path, headers=ana.auth)
    assert_throttled(response)


async def test_tokens_are_counted_apart(make_client) -> None:
    app, client = await make_client(rate_limit_api="2/minute")
    world = World(app.state.sessionmaker)
    ana, ben = await world.person(), await world.person()
    for _ in range(2):
        assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200
    assert_throttled(await client.get("/api/v3/me", headers=ana.auth))
    # Another user, and another token of the same user, still have their allowance.
    assert (await client.get("/api/v3/me", headers=ben.auth)).status_code == 200
    async with app.state.sessionmaker() as session, session.begin():
        token, _ = await issue_token(session, ana.id, "second")
    response = await client.get("/api/v3/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


async def test_unknown_tokens_are_401_not_429(make_client) -> None:
    # A bad token never reaches the limiter, so it cannot use up someone's allowance.
    app, client = await make_client(rate_limit_api="1/minute")
    ana = await World(app.state.sessionmaker).person()
    for _ in range(5):
        response = await client.get("/api/v3/me", headers={"Authorization": "Bearer mb_nope"})
        assert_envelope(response, 401)
    assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200


async def test_off_disables_the_api_limit(make_client) -> None:
    app, client = await make_client(rate_limit_api="off")
    ana = await World(app.state.sessionmaker).person()
    for _ in range(30):
        assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200


async def test_the_default_api_limit_leaves_ordinary_clients_alone(make_client) -> None:
    app, client = await make_client()
    assert app.state.settings.rate_limit_api == "6000/minute"
    ana = await World(app.state.sessionmaker).person()
    for _ in range(200):
        assert (await client.get("/api/v3/teams", headers=ana.auth)).status_code == 200


# --- sign-in -------------------------------------------------------------------------------


async def _account(app: FastAPI, name: str = "Ana") -> Person:
    return await World(app.state.sessionmaker).person(name, password=PASSWORD)


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v3/auth/token", json={"email": email, "password": password})


async def test_sign_in_is_limited_per_account_and_address(make_client) -> None:
    limits = {"rate_limit_token_account": "3/minute", "rate_limit_token_address": "100/minute"}
    app, here = await make_client(address="10.0.0.1", **limits)
    _, there = await make_client(address="10.0.0.2", limiter=app.state.rate_limiter, **limits)
    ana, ben = await _account(app, "Ana"), await _account(app, "Ben")
    for _ in range(3):
        assert_envelope(await _sign_in(here, ana.email, "wrong"), 401)
    # The right password does not help once the allowance is spent ...
    assert_throttled(await _sign_in(here, ana.email, PASSWORD))
    # ... nor does writing the address differently.
    assert_throttled(await _sign_in(here, f"  {ana.email.upper()} ", PASSWORD))
    # Another account from the same address, and the same account from elsewhere, may.
    assert (await _sign_in(here, ben.email, PASSWORD)).status_code == 201
    assert (await _sign_in(there, ana.email, PASSWORD)).status_code == 201


async def test_sign_in_is_limited_per_address(make_client) -> None:
    limits = {"rate_limit_token_account": "100/minute", "rate_limit_token_address": "5/minute"}
    app, here = await make_client(address="10.0.0.1", **limits)
    ana = await _account(app)
    for n in range(5):
        assert_envelope(await _sign_in(here, f"guess{n}@example.com", "x"), 401)
    assert_throttled(await _sign_in(here, ana.email, PASSWORD))
    # Malformed attempts count too: the address limit is checked before the body is read.
    assert_throttled(await here.post("/api/v3/auth/token", content=b"nonsense"))


async def test_sign_in_defaults(make_client) -> None:
    app, _ = await make_client()
    assert app.state.settings.rate_limit_token_account == "10/minute"
    assert app.state.settings.rate_limit_token_address == "60/minute"


# --- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    [
        "RATE_LIMIT_API",
        "RATE_LIMIT_TOKEN_ACCOUNT",
        "RATE_LIMIT_TOKEN_ADDRESS",
        "RATE_LIMIT_TOKEN_CREATE",
        "RATE_LIMIT_CREATE",
    ],
)
@pytest.mark.parametrize("value", ["lots", "0/minute", "10/fortnight", "5/second;0/minute", ""])
def test_a_malformed_rule_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the working directory
    monkeypatch.setenv(f"MEETBOOK_{variable}", value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(f"MEETBOOK_{variable}: ")
    assert "\n" not in message and "off" in message


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("120/minute", "120/minute"),
        (" 50 per hour ", "50 per hour"),
        ("OFF", "off"),
        # Several rules, all of which must hold (MEETBOOK_RATE_LIMIT_CREATE's default).
        ("30/hour;200/day", "30/hour;200/day"),
    ],
)
def test_well_formed_rules_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, stored: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEETBOOK_RATE_LIMIT_API", value)
    assert load_settings().rate_limit_api == stored


# --- Redis: one allowance across processes --------------------------------------------------


@dataclass
class RedisLimiters:
    """Limiters on the test Redis, all under one fresh key prefix."""

    prefix: str = field(default_factory=lambda: f"meetbook-test-{secrets.token_hex(6)}")

    def __call__(self) -> RateLimiter:
        return RateLimiter(REDIS_URL, key_prefix=self.prefix)


@pytest.fixture
async def redis_limiters() -> AsyncIterator[RedisLimiters]:
    """Skips when Redis does not answer; deletes the prefix's keys (and only those) after."""
    client = redis_asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as error:
        message = f"Redis not reachable at {REDIS_URL} ({type(error).__name__}: {error})"
        await client.aclose()
        if REQUIRE_REDIS:
            pytest.fail(message + " and MEETBOOK_REQUIRE_REDIS=1")
        pytest.skip(message + "; set MEETBOOK_TEST_REDIS_URL to run the Redis tests")
    limiters = RedisLimiters()
    yield limiters
    keys = [key async for key in client.scan_iter(match=f"{limiters.prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_redis_counters_are_shared_by_two_app_instances(make_client, redis_limiters) -> None:
    settings = {"rate_limit_api": "4/minute", "rate_limit_storage": REDIS_URL}
    first, one = await make_client(limiter=redis_limiters(), **settings)
    _, two = await make_client(limiter=redis_limiters(), **settings)
    ana = await World(first.state.sessionmaker).person()
    statuses = []
    for client in (one, two, one, two, one, two):
        statuses.append((await client.get("/api/v3/me", headers=ana.auth)).status_code)
    # Four allowed in all, whichever instance answered: not four each.
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert_throttled(await two.get("/api/v3/me", headers=ana.auth))


async def test_redis_sign_in_limit_is_shared(make_client, redis_limiters) -> None:
    settings = {"rate_limit_token_account": "2/minute", "rate_limit_storage": REDIS_URL}
    first, one = await make_client(limiter=redis_limiters(), **settings)
    _, two = await make_client(limiter=redis_limiters(), **settings)
    ana = await _account(first)
    assert_envelope(await _sign_in(one, ana.email, "wrong"), 401)
    assert_envelope(await _sign_in(two, ana.email, "wrong"), 401)
    assert_throttled(await _sign_in(one, ana.email, PASSWORD))


async def test_redis_keys_hold_no_token_and_no_email(make_client, redis_limiters) -> None:
    first, client = await make_client(limiter=redis_limiters(), rate_limit_storage=REDIS_URL)
    ana = await _account(first)
    token = (await _sign_in(client, ana.email, PASSWORD)).json()["token"]
    assert (await client.get("/api/v3/me", headers={"Authorization": f"Bearer {token}"})).is_success
    reader = redis_asyncio.Redis.from_url(REDIS_URL)
    try:
        pattern = f"{redis_limiters.prefix}:*"
        keys = [key.decode() async for key in reader.scan_iter(match=pattern)]
    finally:
        await reader.aclose()
    assert len(keys) >= 3  # address, account, token
    for key in keys:
        assert "mb_" not in key and token not in key
        assert ana.email.lower() not in key.lower()


async def test_an_unreachable_redis_lets_requests_through(make_client) -> None:
    app, client = await make_client(
        rate_limit_api="1/minute", limiter=RateLimiter("redis://127.0.0.1:1/0")
    )
    ana = await World(app.state.sessionmaker).person()
    for _ in range(3):
        assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200


# --- abuse limits: meeting requests, token minting, per-process storage -----------------


async def test_meeting_requests_are_limited_per_requester(make_client) -> None:
    app, client = await make_client(rate_limit_create="3/hour")
    world = World(app.state.sessionmaker)
    ana, ben, cat = await world.person(), await world.person(), await world.person()
    team = await world.team(ana, ben, cat)
    day = (datetime.now(UTC) + timedelta(days=7)).date()
    for hour in range(3):
        response = await create_meeting(client, ana, ben, team, f"{day} 1{hour}:00")
        assert response.status_code == 201, response.text
    refused = await create_meeting(client, ana, ben, team, f"{day} 14:00")
    assert_envelope(refused, 429)
    retry_after = int(refused.headers["retry-after"])
    assert 3000 <= retry_after <= 3600
    # Another requester keeps their own allowance, and the API rate was not the reason.
    assert (await create_meeting(client, cat, ben, team, f"{day} 15:00")).status_code == 201
    assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200


async def test_an_idempotent_replay_does_not_count_against_the_create_limit(make_client) -> None:
    app, client = await make_client(rate_limit_create="1/hour")
    world = World(app.state.sessionmaker)
    ana, ben = await world.person(), await world.person()
    team = await world.team(ana, ben)
    date = f"{(datetime.now(UTC) + timedelta(days=3)).date()} 10:00"
    key = {"Idempotency-Key": "retry-1"}
    body = {"user_id": ben.id, "team_id": team, "date": date}
    first = await client.post("/api/v3/meeting/create", json=body, headers={**ana.auth, **key})
    again = await client.post("/api/v3/meeting/create", json=body, headers={**ana.auth, **key})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert_envelope(await create_meeting(client, ana, ben, team, date), 429)


async def test_the_default_create_limit(make_client) -> None:
    app, client = await make_client()
    assert app.state.settings.rate_limit_create == "30/hour;200/day"
    world = World(app.state.sessionmaker)
    ana, ben = await world.person(), await world.person()
    team = await world.team(ana, ben)
    day = datetime.now(UTC) + timedelta(days=2)
    for n in range(30):
        date = (day + timedelta(hours=n)).strftime("%Y-%m-%d %H:00")
        assert (await create_meeting(client, ana, ben, team, date)).status_code == 201
    assert_throttled_long(await create_meeting(client, ana, ben, team, "2040-01-01 10:00"))


def assert_throttled_long(response: httpx.Response) -> None:
    assert_envelope(response, 429)
    assert int(response.headers["retry-after"]) > 60


async def test_the_web_form_shares_the_create_limit(make_client) -> None:
    app, client = await make_client(rate_limit_create="1/hour")
    world = World(app.state.sessionmaker)
    ana = await world.person(password=STRONG_PASSWORD)
    ben = await world.person()
    team = await world.team(ana, ben)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    assert (await create_meeting(client, ana, ben, team, f"{day} 10:00")).status_code == 201
    csrf = await web_sign_in(client, ana)
    data = {
        "csrf_token": csrf,
        "team_id": str(team),
        "user_id": str(ben.id),
        "date": f"{day} 11:00",
    }
    response = await client.post("/meetings/new", data=data)
    assert response.status_code == 429
    assert "Too many requests" in response.text


async def test_minting_tokens_is_throttled_per_user(make_client) -> None:
    app, client = await make_client(rate_limit_token_create="2/hour")
    world = World(app.state.sessionmaker)
    ana = await world.person(password=STRONG_PASSWORD)
    body = {"email": ana.email, "password": STRONG_PASSWORD}
    for _ in range(2):
        assert (await client.post("/api/v3/auth/token", json=body)).status_code == 201
    assert_envelope(await client.post("/api/v3/auth/token", json=body), 429)
    # The settings page draws on the same allowance.
    csrf = await web_sign_in(client, ana)
    page = await client.post("/settings/tokens", data={"csrf_token": csrf, "name": "More"})
    assert page.status_code == 429
    assert "retry-after" in page.headers
    assert 'id="token-name-error">Too many requests' in page.text


async def test_live_api_tokens_are_capped(make_client) -> None:
    app, client = await make_client(rate_limit_token_create="off")
    world = World(app.state.sessionmaker)
    ana = await world.person(password=STRONG_PASSWORD)  # holds one token already
    async with app.state.sessionmaker() as session, session.begin():
        for n in range(MAX_LIVE_TOKENS - 1):
            await issue_token(session, ana.id, f"script {n}")
    body = {"email": ana.email, "password": STRONG_PASSWORD}
    refused = await client.post("/api/v3/auth/token", json=body)
    message = assert_envelope(refused, 409)["message"]
    assert f"{MAX_LIVE_TOKENS} active API tokens" in message and "revoke" in message
    # Signing in to the page still works (sessions are not counted) ...
    csrf = await web_sign_in(client, ana)
    page = await client.post("/settings/tokens", data={"csrf_token": csrf, "name": "One more"})
    assert page.status_code == 409
    # A token named like a session is still an API token, and counted.
    disguised = await client.post("/api/v3/auth/token", json={**body, "name": "web session"})
    assert_envelope(disguised, 409)
    # ... and revoking one makes room again.
    assert (await client.delete("/api/v3/auth/token", headers=ana.auth)).status_code == 204
    assert (await client.post("/api/v3/auth/token", json=body)).status_code == 201


def test_per_process_storage_with_several_workers_is_called_out() -> None:
    settings = Settings(secret_key="s" * 32)
    assert per_process_limits_warning(settings, 1) is None
    warning = per_process_limits_warning(settings, 3)
    assert warning is not None and "3" in warning and "memory://" in warning
    shared = Settings(secret_key="s" * 32, rate_limit_storage="redis://127.0.0.1:6379/0")
    assert per_process_limits_warning(shared, 3) is None


def test_serve_prints_and_logs_the_per_process_warning(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "MEETBOOK_SECRET_KEY": "serve-test-secret-" + "x" * 32,
        # This tree's meetbook, whatever the working directory.
        "PYTHONPATH": str(Path(meetbook.__file__).resolve().parents[1]),
    }
    command = [sys.executable, "-m", "meetbook.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--no-worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Never wait on a server that does not print the line: stop it after a minute.
    deadline = threading.Timer(90, process.kill)
    deadline.start()
    try:
        lines: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Warning:"):
                break
        assert any("each of the 2 API processes" in line for line in lines), lines
    finally:
        deadline.cancel()
        process.terminate()
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [entry] = [e for e in logged if e["event"] == "ratelimit.per_process"]
    assert entry["level"] == "warning" and entry["workers"] == 2
