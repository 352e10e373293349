"""Shared fixtures: a migrated database per backend, the app, an HTTP client, factories.

Every test that uses `client` or `db` runs twice: on SQLite and on PostgreSQL. The
PostgreSQL run is skipped with a message when no server answers at
MEETBOOK_TEST_POSTGRES_URL, unless MEETBOOK_REQUIRE_POSTGRES=1 (as in CI), where it fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from meetbook.accounts import service as accounts
from meetbook.app import create_app
from meetbook.auth.tokens import issue_token
from meetbook.config import Settings
from meetbook.migrate import upgrade_async
from meetbook.models import Base

# Read at the first hash, and inherited by every server the tests start: Argon2 at its
# minimum cost (test-only, see config.PASSWORD_HASH_PROFILE_ENV). Production parameters
# cost ~0.3 s per hash here, and the suite creates hundreds of accounts.
os.environ.setdefault("MEETBOOK_PASSWORD_HASH_PROFILE", "fast")


def clean_environment() -> dict[str, str]:
    """Our environment for a meetbook process, without our MEETBOOK_* settings.

    The one kept is the test-only cheap Argon2 above: without it a server or CLI the
    tests start hashes at production cost (~0.3 s per hash and per sign-in here).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEETBOOK_")}
    env["MEETBOOK_PASSWORD_HASH_PROFILE"] = os.environ["MEETBOOK_PASSWORD_HASH_PROFILE"]
    return env


POSTGRES_URL = os.environ.get(
    "MEETBOOK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("MEETBOOK_REQUIRE_POSTGRES") == "1"
BACKENDS = ("sqlite", "postgres")


async def _postgres_reachable(url: str) -> str | None:
    engine = create_async_engine(url, connect_args={"timeout": 3})
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return None
    except Exception as error:  # any failure means "not available here"
        return f"{type(error).__name__}: {error}"
    finally:
        await engine.dispose()


async def create_postgres_database(admin_url: str) -> str:
    """A fresh, uniquely named database on the server of `admin_url`; returns its URL."""
    name = f"meetbook_test_{secrets.token_hex(4)}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def require_postgres() -> None:
    """Skip (or, when MEETBOOK_REQUIRE_POSTGRES=1, fail) if PostgreSQL does not answer."""
    problem = await _postgres_reachable(POSTGRES_URL)
    if problem:
        message = f"PostgreSQL not reachable at {POSTGRES_URL} ({problem})"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and MEETBOOK_REQUIRE_POSTGRES=1")
        pytest.skip(message + "; set MEETBOOK_TEST_POSTGRES_URL to run these tests")


@pytest_asyncio.fixture(scope="session")
async def postgres_admin_url() -> str:
    """The PostgreSQL server's URL, for tests that make databases of their own."""
    await require_postgres()
    return POSTGRES_URL


@pytest_asyncio.fixture(scope="session", params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database for the session, one per backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "meetbook.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
        await _dispose_emptying_engines(url)
        return
    await require_postgres()
    url = await create_postgres_database(POSTGRES_URL)
    await upgrade_async(url)
    yield url
    await _dispose_emptying_engines(url)
    await drop_postgres_database(POSTGRES_URL, url)


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


@dataclass
class MovableClock:
    """The app's clock; tests move it to make meetings start, end, expire."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


def settings_for(url: str, tmp_path: Path, **extra: Any) -> Settings:
    # The tests' push endpoints are local peers and names that never resolve
    # (push.example.test); tests/security/test_outbound.py turns this off.
    extra.setdefault("allow_private_targets", True)
    return Settings(
        database_url=url,
        secret_key="test-secret-key-" + "x" * 32,
        base_url="http://meetbook.test",
        **extra,
    )


# Emptying every table, children first, as one script (one round trip). DELETE, not
# TRUNCATE: on tables this small a TRUNCATE of all of them cost ~0.3-0.5 s per test on
# PostgreSQL (new files for each table, fsynced at commit), against a few ms here. The
# commit need not be durable. On PostgreSQL the id sequences restart, as before with
# TRUNCATE ... RESTART IDENTITY.
_DELETE_ALL = " ".join(f"DELETE FROM {t.name};" for t in reversed(Base.metadata.sorted_tables))
_EMPTY_POSTGRES = (
    "BEGIN; SET LOCAL synchronous_commit TO off; "
    + _DELETE_ALL
    + " SELECT setval(format('%I.%I', schemaname, sequencename), 1, false)"
    " FROM pg_sequences WHERE schemaname = current_schema(); COMMIT"
)
_EMPTY_SQLITE = f"PRAGMA synchronous = OFF; BEGIN IMMEDIATE; {_DELETE_ALL} COMMIT"


# One engine per database and event loop for emptying it: a new engine's first connection
# costs ~40 ms on PostgreSQL (connect, dialect start-up), more than the emptying itself.
_EMPTYING_ENGINES: dict[tuple[str, asyncio.AbstractEventLoop], AsyncEngine] = {}


async def _empty_tables(url: str) -> None:
    key = (url, asyncio.get_running_loop())
    engine = _EMPTYING_ENGINES.get(key)
    if engine is None:
        engine = _EMPTYING_ENGINES[key] = create_async_engine(url, pool_size=1, pool_pre_ping=True)
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if backend_of(url) == "postgres":
            await driver.execute(_EMPTY_POSTGRES)
        else:
            await driver.executescript(_EMPTY_SQLITE)


async def _dispose_emptying_engines(url: str) -> None:
    for key in [key for key in _EMPTYING_ENGINES if key[0] == url]:
        await _EMPTYING_ENGINES.pop(key).dispose()


@pytest_asyncio.fixture
async def app(database_url: str, tmp_path: Path, clock: MovableClock) -> AsyncIterator[Any]:
    await _empty_tables(database_url)
    application = create_app(settings_for(database_url, tmp_path), clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as http:
        yield http


@contextmanager
def statements(app: Any) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends meanwhile."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def sessionmaker(app: Any) -> async_sessionmaker[AsyncSession]:
    return app.state.sessionmaker  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class World:
    """Small factories for people and teams, written through the services."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker
        self._count = 0

    async def person(
        self, name: str | None = None, *, timezone: str | None = "UTC", password: str | None = None
    ) -> Person:
        self._count += 1
        name = name or f"Person {self._count}"
        email = f"p{self._count}-{secrets.token_hex(3)}@example.com"
        async with self.sessionmaker() as session, session.begin():
            user = await accounts.create_user(
                session, name=name, email=email, timezone=timezone, password=password
            )
            token, _ = await issue_token(session, user.id, "test")
        return Person(user.id, name, email, token)

    async def team(self, *members: Person, name: str = "Team") -> int:
        async with self.sessionmaker() as session, session.begin():
            team = await accounts.create_team(session, name)
            for member in members:
                await accounts.add_member(session, team.id, member.id)
        return team.id


@pytest.fixture
def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return World(sessionmaker)


def future(clock: MovableClock, days: int = 7, hour: int = 15) -> str:
    """A date string `days` ahead of the test clock at `hour`:00, without an offset."""
    day = (clock.now + timedelta(days=days)).date()
    return f"{day.isoformat()} {hour:02d}:00:00"


async def create_meeting(
    client: httpx.AsyncClient, by: Person, to: Person, team_id: int, date: str, **extra: Any
) -> httpx.Response:
    body = {"user_id": to.id, "team_id": team_id, "date": date, **extra}
    return await client.post("/api/v3/meeting/create", json=body, headers=by.auth)


async def team_with_phones(client: httpx.AsyncClient, world: World) -> tuple[Person, Person, int]:
    """A requester and a recipient in a team of their own, each with a phone (fcm)."""
    requester, recipient = await world.person(), await world.person()
    team_id = await world.team(requester, recipient)
    for person in (requester, recipient):
        body = {"platform": "fcm", "token": f"phone-of-{person.id}"}
        response = await client.post("/api/v3/devices", json=body, headers=person.auth)
        assert response.status_code == 201, response.text
    return requester, recipient, team_id
