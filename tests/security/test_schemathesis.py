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
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from sqlalchemy.ext.asyncio import create_async_engine

from meetbook.app import create_app
from meetbook.db import create_sessionmaker
from tests.conftest import World, _empty_tables, settings_for

EXAMPLES = int(os.environ.get("MEETBOOK_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("MEETBOOK_FUZZ_SEED", "5"))
REPORT = os.environ.get("MEETBOOK_FUZZ_REPORT")
PASSWORD = "fuzzing is fun"

# (database backend, "METHOD /path", status) -> how many cases got that answer.
OUTCOMES: Counter[tuple[str, str, int]] = Counter()


@dataclass(frozen=True)
class FuzzWorld:
    token: str
    email: str
    backend: str


@pytest_asyncio.fixture
async def fuzz_people(database_url: str) -> AsyncIterator[tuple[Any, Any, int]]:
    """The signed-in fuzzer (with a password), a teammate and their team."""
    await _empty_tables(database_url)
    engine = create_async_engine(database_url)
    world = World(create_sessionmaker(engine))
    me = await world.person("Fuzz Owner", timezone="Europe/Paris", password=PASSWORD)
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

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return  # the test's app runs its own lifespan (see `fuzz_app`)
        assert self.app is not None, "no fuzzing app is running"
        await self.app(scope, receive, send)


CURRENT = CurrentApp()


@pytest.fixture
def fuzz_app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    # The API limit is off: the fuzzer sends hundreds of requests a minute with one
    # token, and a wall of 429s would hide everything else. Rate limiting has its own tests.
    app = create_app(settings_for(database_url, tmp_path, rate_limit_api="off"))
    # Entering a client starts the app's lifespan on schemathesis' event loop, where the
    # requests will run; it lasts until `shutdown_lifespans`.
    with asgi.get_client(app):
        pass
    CURRENT.app = app
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
    return FuzzWorld(token=me.token, email=me.email, backend=backend)


# The document is the app's own; no database is needed to render it.
schema = schemathesis.openapi.from_dict(
    create_app(settings_for("sqlite+aiosqlite:///:memory:", Path("."))).openapi(),
    config=SchemathesisConfig.from_dict({"seed": SEED}),
)
schema.app = CURRENT


def _fresh_token(app: FastAPI, email: str) -> str:
    # DELETE /auth/token revokes the token it is called with: give each such case its own.
    with asgi.get_client(app) as client:
        response = client.post(
            "/api/v3/auth/token", json={"email": email, "password": PASSWORD, "name": "fuzz"}
        )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


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
    case: Any, fuzz_app: FastAPI, fuzz_world: FuzzWorld
) -> None:
    label = f"{case.method.upper()} {case.path}"
    token = fuzz_world.token
    if label == "DELETE /api/v3/auth/token":
        token = _fresh_token(fuzz_app, fuzz_world.email)
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    OUTCOMES[(fuzz_world.backend, label, response.status_code)] += 1


def test_fuzz_report() -> None:
    """Not a check: writes the fuzzing figures when MEETBOOK_FUZZ_REPORT names a file."""
    if not REPORT or not OUTCOMES:
        pytest.skip("set MEETBOOK_FUZZ_REPORT=path to record the fuzzing figures")
    rows = [
        {"backend": backend, "operation": label, "status": status, "cases": count}
        for (backend, label, status), count in sorted(OUTCOMES.items())
    ]
    Path(REPORT).write_text(json.dumps(rows, indent=1))
