"""The `meetbook` command, run as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


def meetbook(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meetbook.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def cli_env(database_url: str) -> dict[str, str]:
    return {
        "MEETBOOK_DATABASE_URL": database_url,
        "MEETBOOK_SECRET_KEY": "cli-test-secret-" + "k" * 32,
    }


def test_setup_commands_print_json(cli_env, tmp_path: Path) -> None:
    email = f"cli-{os.getpid()}-{tmp_path.name}@example.com"
    assert meetbook("db", "upgrade", env=cli_env, cwd=tmp_path).returncode == 0
    made = meetbook(
        "users",
        "create",
        "--name",
        "Cli User",
        "--email",
        email,
        "--timezone",
        "Europe/Rome",
        "--password",
        "quiet-lantern-harbour",
        env=cli_env,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    user_id = json.loads(made.stdout)["id"]
    team = meetbook("teams", "create", "--name", "Cli Team", env=cli_env, cwd=tmp_path)
    team_id = json.loads(team.stdout)["id"]
    added = meetbook(
        "teams",
        "add-member",
        "--team",
        str(team_id),
        "--user",
        str(user_id),
        "--role",
        "admin",
        env=cli_env,
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    token = meetbook("tokens", "create", "--user", str(user_id), env=cli_env, cwd=tmp_path)
    assert json.loads(token.stdout)["token"].startswith("mb_")


@pytest.mark.parametrize(
    "args",
    [
        ("users", "create", "--name", "X"),
        ("users", "create", "--name", "X", "--email", "not-an-email"),
        (
            "users",
            "create",
            "--name",
            "X",
            "--email",
            "x@example.com",
            "--timezone",
            "Nowhere/Town",
        ),
        ("teams", "add-member", "--team", "abc", "--user", "1"),
        ("teams", "add-member", "--team", "999999", "--user", "1"),
        ("teams", "add-member", "--team", "1", "--user", "1", "--role", "owner"),
        ("tokens", "create", "--user", "999999"),
        ("serve", "--port", "99999"),
        ("frobnicate",),
    ],
)
def test_bad_input_is_one_line_on_stderr(cli_env, tmp_path: Path, args) -> None:
    result = meetbook(*args, env=cli_env, cwd=tmp_path)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_duplicate_email_is_refused(cli_env, tmp_path: Path) -> None:
    email = f"dup-{tmp_path.name}@example.com"
    args = ("users", "create", "--name", "D", "--email", email)
    assert meetbook(*args, env=cli_env, cwd=tmp_path).returncode == 0
    again = meetbook(*args, env=cli_env, cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MEETBOOK_DATABASE_URL", "mysql://x"),
        ("MEETBOOK_BASE_URL", "not a url"),
        ("MEETBOOK_SMTP_PORT", "seventy"),
        ("MEETBOOK_SMTP_SECURITY", "ssl3"),
        ("MEETBOOK_FCM_CREDENTIALS", "/no/such/file.json"),
    ],
)
def test_bad_setting_stops_with_a_line_naming_it(tmp_path: Path, variable, value) -> None:
    env = {"MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db", variable: value}
    result = meetbook("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert variable in result.stderr


@pytest.mark.parametrize("secret", ["abc", "x" * 31])
def test_a_short_secret_key_stops_start_up(tmp_path: Path, secret: str) -> None:
    env = {"MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    result = meetbook("db", "upgrade", env={**env, "MEETBOOK_SECRET_KEY": secret}, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip() == "MEETBOOK_SECRET_KEY: must be at least 32 characters long"
    assert secret not in result.stderr.replace("MEETBOOK_SECRET_KEY", "")
    longer = meetbook("db", "upgrade", env={**env, "MEETBOOK_SECRET_KEY": "x" * 32}, cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("x", "at least 10 characters"),
        ("short-pw", "at least 10 characters"),
        ("demo-password", "too easy to guess. This is similar to a commonly used password."),
        ("password1234", "too easy to guess"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("{email}", "too easy to guess"),  # the account's own address
    ],
)
def test_users_create_refuses_a_weak_password_saying_why(
    cli_env, tmp_path: Path, password: str, why: str
) -> None:
    email = f"weak-{os.getpid()}-{tmp_path.name}@example.com"
    result = meetbook(
        "users", "create", "--name", "Cli User", "--email", email,
        "--password", password.format(email=email),
        env=cli_env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert why in line and line.startswith("meetbook: Password ")


def test_postgres_needs_a_secret_key(tmp_path: Path) -> None:
    env = {"MEETBOOK_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    result = meetbook("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode != 0 and "MEETBOOK_SECRET_KEY" in result.stderr


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MEETBOOK_BASE_URL=nonsense\n")
    result = meetbook("db", "upgrade", env={}, cwd=tmp_path)
    assert result.returncode != 0 and "MEETBOOK_BASE_URL" in result.stderr


def test_sqlite_secret_is_generated_beside_the_database(tmp_path: Path) -> None:
    env = {"MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/m.db"}
    (tmp_path / "data").mkdir()
    env_clean = {k: v for k, v in os.environ.items() if k != "MEETBOOK_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "meetbook.cli", "db", "upgrade"],
        env={**env_clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "data" / ".meetbook-secret"
    assert secret.exists() and len(secret.read_text()) > 40
    assert oct(secret.stat().st_mode & 0o777) == "0o600"


def test_serve_refuses_a_taken_port_before_doing_anything(tmp_path: Path) -> None:
    env = {"MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/taken.db"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = meetbook("serve", "--port", str(port), "--demo", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"meetbook serve: 127.0.0.1:{port} is already in use (is meetbook already running?)"
    ]
    # Nothing printed, migrated or minted: no "running", no demo tokens.
    assert result.stdout == ""
    assert not (tmp_path / "taken.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


DEMO_TOKEN = re.compile(r"^\s+.+?\s+id=\d+\s+(\S+@\S+)\s+\S+\s+token: (\S+)$", re.MULTILINE)


def _serve_demo_once(env: dict[str, str], cwd: Path, *, stop: str) -> dict[str, str]:
    """Start `serve --demo`, read the printed tokens, stop it; the tokens by email.

    `stop="starting"`: SIGINT as soon as "meetbook is running" is printed, which is
    before uvicorn has imported the app; such a stop used to be lost about half the
    time (a KeyboardInterrupt raised inside a finalizer is dropped) and the server ran
    on. `stop="serving"`: SIGINT once it answers /readyz (a database connection open).
    Either way it must shut down cleanly.
    """
    log_path = cwd / f"serve-{time.monotonic_ns()}.log"
    port = str(_free_port())
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meetbook.cli",
                "serve",
                "--demo",
                "--no-worker",
                "--port",
                port,
            ],
            env={**os.environ, **env},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (
            _answers(f"http://127.0.0.1:{port}/readyz")
            if stop == "serving"
            else "meetbook is running" in log_path.read_text()
        ):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            returncode = process.wait(timeout=60)
        finally:
            process.kill()
    output = log_path.read_text()
    assert returncode == 0 and "Application shutdown complete" in output, output
    assert "/login" in output and "/docs" in output
    return dict(DEMO_TOKEN.findall(output))


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


async def _live_demo_tokens(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                text("SELECT count(*) FROM api_tokens WHERE name = 'demo' AND revoked_at IS NULL")
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def test_serve_demo_reuses_its_tokens_on_restart(cli_env, tmp_path: Path) -> None:
    before = await _live_demo_tokens(cli_env["MEETBOOK_DATABASE_URL"])
    first = _serve_demo_once(cli_env, tmp_path, stop="serving")
    assert set(first) == {"ana@example.com", "ben@example.com", "chitra@example.com"}
    kept = tmp_path / "meetbook-demo-tokens.json"
    if cli_env["MEETBOOK_DATABASE_URL"].startswith("sqlite"):  # beside the SQLite file
        kept = Path(make_url(cli_env["MEETBOOK_DATABASE_URL"]).database or "").parent / kept.name
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    # A kept token that no longer works (revoked, another database) is replaced.
    saved = json.loads(kept.read_text())
    saved["accounts"][0]["token"] = "mb_not-a-token"
    kept.write_text(json.dumps(saved))

    second = _serve_demo_once(cli_env, tmp_path, stop="starting")
    assert second["ben@example.com"] == first["ben@example.com"]
    assert second["chitra@example.com"] == first["chitra@example.com"]
    assert second["ana@example.com"] not in (first["ana@example.com"], "mb_not-a-token")
    assert await _live_demo_tokens(cli_env["MEETBOOK_DATABASE_URL"]) - before == 3 + 1
    assert oct(kept.stat().st_mode & 0o777) == "0o600"


def test_secret_prints_a_new_strong_key_without_any_settings(tmp_path: Path) -> None:
    # It runs before the operator has settings: even a broken environment does not stop it.
    env = {"MEETBOOK_DATABASE_URL": "mysql://x", "MEETBOOK_SECRET_KEY": "short"}
    keys = []
    for _ in range(2):
        result = meetbook("secret", env=env, cwd=tmp_path)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        [key] = result.stdout.splitlines()
        assert re.fullmatch(r"[A-Za-z0-9_-]{64}", key), key  # 48 random bytes, base64url
        keys.append(key)
    assert keys[0] != keys[1]
    # The key it prints is one the settings accept, on PostgreSQL too.
    from meetbook.config import Settings

    settings = Settings(database_url="postgresql+asyncpg://x@127.0.0.1/x", secret_key=keys[0])
    assert settings.resolved_secret_key() == keys[0]
