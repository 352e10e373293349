"""Schema fuzzing: schemathesis drives every documented route of the real app.

The fuzzer signs in as a user who has a team, a teammate, meetings in several states
and a push device, so that ids exist and the happy paths are reached too. Every answer
must be documented (status code, content type, headers) and match its schema, the
error envelope included, and no answer may be a 5xx.

Bounded: `MEETBOOK_FUZZ_EXAMPLES` generated cases per operation in the fuzzing phase
(default 30) on top of schemathesis' explicit-example and coverage phases, with a fixed
seed (`MEETBOOK_FUZZ_SEED`, default 5) so that a failure reproduces. The counts per
operation and status are written to `MEETBOOK_FUZZ_REPORT` when that is set.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from sqlalchemy import update
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.accounts import service as accounts
from meetbook.app import create_app
from meetbook.auth.tokens import hash_token
from meetbook.db import create_sessionmaker
from meetbook.models import ApiToken
from tests.conftest import Person, World, _empty_tables, settings_for

EXAMPLES = int(os.environ.get("MEETBOOK_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("MEETBOOK_FUZZ_SEED", "5"))
REPORT = os.environ.get("MEETBOOK_FUZZ_REPORT")
PASSWORD = "fuzzing is fun"
# The fuzzer's credential, fixed so that schemathesis knows it when it builds the tests
# (at collection) and each test's database gets a row for it.
FUZZ_TOKEN = "mb_schemathesis-fuzzing-token-000000000000000"

# (database backend, "METHOD /path", status) -> how many generated cases got that answer.
OUTCOMES: Counter[tuple[str, str, int]] = Counter()
# Database backend -> requests the app served, schemathesis' own re-sends included.
REQUESTS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_report() -> Iterator[None]:
    """Write the figures to MEETBOOK_FUZZ_REPORT (JSON) once the module has run."""
    yield
    if REPORT:
        rows = [
            {"backend": backend, "operation": label, "status": status, "cases": count}
            for (backend, label, status), count in sorted(OUTCOMES.items())
        ]
        Path(REPORT).write_text(json.dumps({"requests": REQUESTS, "outcomes": rows}, indent=1))


@dataclass(frozen=True)
class FuzzWorld:
    database_url: str
    backend: str


@pytest_asyncio.fixture
async def fuzz_people(database_url: str) -> AsyncIterator[tuple[Any, Any, int]]:
    """The fuzzer (FUZZ_TOKEN), a teammate and their team."""
    await _empty_tables(database_url)
    engine = create_async_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        user = await accounts.create_user(
            session,
            name="Fuzz Owner",
            email="fuzzer@example.com",
            timezone="Europe/Paris",
            password=PASSWORD,
        )
        session.add(ApiToken(user_id=user.id, name="fuzz", token_hash=hash_token(FUZZ_TOKEN)))
    me = Person(user.id, user.name, user.email, FUZZ_TOKEN)
    world = World(sessionmaker)
    mate = await world.person("Fuzz Mate", timezone="America/New_York")
    team_id = await world.team(me, mate, name="Fuzzers")
    yield me, mate, team_id
    await engine.dispose()


class CurrentApp:
    """The ASGI app schemathesis talks to: it forwards to the running test's app.

    The schema is built once, at import, but each test has an app on its own database;
    schemathesis sends every request of a test (its own re-sends for the auth and
    resource checks included) to this object, and so to that test's app, in process.
    """

    def __init__(self) -> None:
        self.app: FastAPI | None = None
        self.backend = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return  # the test's app runs its own lifespan (see `fuzz_app`)
        assert self.app is not None, "no fuzzing app is running"
        REQUESTS[self.backend] += 1
        await self.app(scope, receive, send)


CURRENT = CurrentApp()


@pytest.fixture
def fuzz_app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    # Rate limits are off: the fuzzer sends hundreds of requests a minute with one token
    # from one address, and a wall of 429s would hide everything else. They have their
    # own tests (test_ratelimit.py).
    limits_off = {
        "rate_limit_api": "off",
        "rate_limit_token_account": "off",
        "rate_limit_token_address": "off",
    }
    app = create_app(settings_for(database_url, tmp_path, **limits_off))
    # Entering a client starts the app's lifespan on schemathesis' event loop, where the
    # requests will run; it lasts until `shutdown_lifespans`.
    with asgi.get_client(app):
        pass
    CURRENT.app = app
    CURRENT.backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    yield app
    CURRENT.app = None
    asgi.shutdown_lifespans()  # closes the engine before the database goes away


@pytest.fixture
def fuzz_world(
    fuzz_app: FastAPI, fuzz_people: tuple[Any, Any, int], database_url: str
) -> FuzzWorld:
    """Meetings in several states and a device, made through the API itself."""
    me, mate, team_id = fuzz_people
    with asgi.get_client(fuzz_app) as client:
        return _seed(client, me, mate, team_id, database_url)


def _seed(client: Any, me: Any, mate: Any, team_id: int, database_url: str) -> FuzzWorld:
    day = datetime.now(UTC) + timedelta(days=10)
    ids = []
    for offset, (by, to) in enumerate([(me, mate), (mate, me), (mate, me), (me, mate)]):
        start = (day + timedelta(hours=offset * 2)).strftime("%Y-%m-%dT%H:00:00Z")
        response = client.post(
            "/api/v3/meeting/create",
            json={"user_id": to.id, "team_id": team_id, "date": start, "link": "https://x.test/j"},
            headers=by.auth,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert client.post(f"/api/v3/meeting/{ids[1]}/confirm", headers=me.auth).status_code == 200
    assert client.post(f"/api/v3/meeting/{ids[2]}/reject", headers=me.auth).status_code == 200
    device = client.post(
        "/api/v3/devices", json={"platform": "fcm", "token": "fuzz-device"}, headers=me.auth
    )
    assert device.status_code == 201, device.text
    backend = "sqlite" if database_url.startswith("sqlite") else "postgres"
    return FuzzWorld(database_url=database_url, backend=backend)


# The document is the app's own; no database is needed to render it.
schema = schemathesis.openapi.from_dict(
    create_app(settings_for("sqlite+aiosqlite:///:memory:", Path("."))).openapi(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # As configuration (not a header added per call), so that schemathesis knows
            # the credential: its negative cases may leave it out, and they stay negative.
            "auth": {"openapi": {"HTTPBearer": {"bearer": FUZZ_TOKEN}}},
        }
    ),
)
schema.app = CURRENT


async def _unrevoke(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(ApiToken)
                .where(ApiToken.token_hash == hash_token(FUZZ_TOKEN))
                .values(revoked_at=None)
            )
    finally:
        await engine.dispose()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        # One world per operation is intended: its examples share the seeded data.
        HealthCheck.function_scoped_fixture,
    ],
)
def test_every_route_conforms_to_its_schema(
    case: Any, fuzz_app: FastAPI, fuzz_world: FuzzWorld, fuzz_report: None
) -> None:
    label = case.operation.label
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    if response.status_code == 204 and label in (
        "DELETE /api/v3/auth/token",
        "DELETE /api/v3/me/tokens/{token_id}",
    ):
        # That revoked FUZZ_TOKEN, as it should; restore it for the next case.
        asyncio.run(_unrevoke(fuzz_world.database_url))
    OUTCOMES[(fuzz_world.backend, label, response.status_code)] += 1
