"""No secret reaches the logs: not a token, not a password, not the secret key.

A whole flow runs with the notification worker on and every meetbook logger at DEBUG,
formatted by the production JSON formatter; then the text is searched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from meetbook.app import create_app
from meetbook.logs import JsonFormatter
from tests.conftest import World, _empty_tables, future, settings_for

PASSWORD = "hunter2-correct-horse"
SECRET_KEY = "log-test-secret-key-" + "s" * 30
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything meetbook logs at DEBUG and up, and warnings from anything, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    meetbook, root = logging.getLogger("meetbook"), logging.getLogger()
    level = meetbook.level
    meetbook.setLevel(logging.DEBUG)
    meetbook.addHandler(handler)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        meetbook.removeHandler(handler)
        root.removeHandler(handler)
        meetbook.setLevel(level)


async def _web_sign_in(http: httpx.AsyncClient, email: str) -> None:
    page = await http.get("/login", headers={"Accept": "text/html"})
    csrf = _CSRF.search(page.text)
    assert csrf, "the login page has no CSRF field"
    response = await http.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf.group(1), "next": "/"},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 303, response.text


async def test_a_whole_flow_logs_no_secret(
    database_url: str, tmp_path: Path, clock, json_logs: io.StringIO
) -> None:
    await _empty_tables(database_url)
    settings = settings_for(database_url, tmp_path).model_copy(update={"secret_key": SECRET_KEY})
    app = create_app(settings, run_worker=True, clock=clock)
    secrets_seen: list[str] = [PASSWORD, SECRET_KEY]
    async with app.router.lifespan_context(app):
        world = World(app.state.sessionmaker)
        ana = await world.person("Ana", password=PASSWORD)
        ben = await world.person("Ben", password=PASSWORD)
        team_id = await world.team(ana, ben)
        secrets_seen += [ana.token, ben.token]
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as http:
            signed = await http.post(
                "/api/v3/auth/token", json={"email": ana.email, "password": PASSWORD}
            )
            token = signed.json()["token"]
            secrets_seen += [token, hashlib.sha256(token.encode()).hexdigest()]
            auth = {"Authorization": f"Bearer {token}"}
            wrong = await http.post(
                "/api/v3/auth/token", json={"email": ana.email, "password": PASSWORD + "x"}
            )
            assert wrong.status_code == 401
            ids = []
            for days in (3, 4):
                body = {"user_id": ben.id, "team_id": team_id, "date": future(clock, days)}
                created = await http.post("/api/v3/meeting/create", json=body, headers=auth)
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            confirm = await http.post(f"/api/v3/meeting/{ids[0]}/confirm", headers=ben.auth)
            assert confirm.status_code == 200
            cancel = await http.post(
                f"/api/v3/meeting/{ids[1]}/cancel", json={"reason": "clash"}, headers=auth
            )
            assert cancel.status_code == 200
            await http.patch("/api/v3/me", json={"name": "Ana Lima"}, headers=auth)
            await _web_sign_in(http, ben.email)
            assert (await http.delete("/api/v3/auth/token", headers=auth)).status_code == 204
            assert (await http.get("/api/v3/me", headers=auth)).status_code == 401
            # Let the worker deliver everything (to the dev mailbox), boundedly.
            for _ in range(100):
                states = [
                    item["status"]
                    for meeting_id in ids
                    for item in (
                        await http.get(
                            f"/api/v3/meeting/{meeting_id}/notifications", headers=ben.auth
                        )
                    ).json()["data"]
                ]
                if states and all(state == "sent" for state in states):
                    break
                await asyncio.sleep(0.05)
            assert states and all(state == "sent" for state in states), states

    logged = json_logs.getvalue()
    events = {line.split('"event": "')[1].split('"')[0] for line in logged.splitlines() if line}
    # Not vacuous: the flow was logged.
    assert "web.login.succeeded" in events, events
    assert any(event.startswith(("meeting.", "notification.")) for event in events), events
    for secret in secrets_seen:
        assert secret not in logged, f"a secret of length {len(secret)} was logged"
    assert "mb_" not in logged
    assert "$argon2" not in logged


def test_the_cli_prints_a_new_token_only_on_stdout(tmp_path: Path) -> None:
    # A database of its own (the CLI migrates it): the CLI's code is the same on both backends.
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "MEETBOOK_DATABASE_URL": database_url, "MEETBOOK_SECRET_KEY": SECRET_KEY}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "meetbook.cli", *args],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    email = f"log-{os.getpid()}-{tmp_path.name}@example.com"
    user = run("users", "create", "--name", "Log", "--email", email, "--password", PASSWORD)
    assert user.returncode == 0, user.stderr
    assert PASSWORD not in user.stdout + user.stderr
    user_id = user.stdout.split(":")[1].strip(" }\n")
    token = run("tokens", "create", "--user", user_id)
    assert token.returncode == 0, token.stderr
    assert "mb_" in token.stdout
    assert "mb_" not in token.stderr and SECRET_KEY not in token.stdout + token.stderr
