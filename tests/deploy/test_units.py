"""The shipped systemd units (deploy/systemd/) and settings file, checked by systemd itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from meetbook.config import Settings, new_secret_key
from tests.deploy.conftest import DEPLOY, require_tool

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/meetbook/venv/bin/meetbook"


def meetbook_script() -> str:
    script = Path(sys.executable).with_name("meetbook")
    assert script.exists(), f"{script} is missing: install meetbook (scripts/setup.sh dev)"
    return str(script)


def installed_copy(unit: Path, directory: Path) -> Path:
    """The unit as it would be installed, its ExecStart pointing at this environment's
    meetbook (systemd-analyze checks that the program exists)."""
    text = unit.read_text()
    assert INSTALLED in text, f"{unit.name} should run {INSTALLED}, as docs/deploy.md says"
    copy = directory / unit.name
    copy.write_text(text.replace(INSTALLED, meetbook_script()))
    return copy


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    analyze = require_tool("systemd-analyze", "systemd")
    return subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def test_there_is_a_unit_for_the_api_and_one_for_the_worker() -> None:
    assert [unit.name for unit in UNITS] == ["meetbook-api@.service", "meetbook-worker@.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_analyze_verify_accepts_the_unit(unit: Path, tmp_path: Path) -> None:
    done = verify(installed_copy(unit, tmp_path))
    # verify warns (unknown keys, bad values) on stderr and may still exit 0: both count.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    broken = installed_copy(UNITS[0], tmp_path)
    broken.write_text(broken.read_text().replace("Restart=always", "Restart=allways"))
    assert "restart specifier" in verify(broken).stderr


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_unit_is_hardened(unit: Path, tmp_path: Path) -> None:
    text = unit.read_text()
    for line in (
        "DynamicUser=yes",
        "EnvironmentFile=/etc/meetbook/meetbook.env",
        "Restart=always",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ):
        assert f"\n{line}\n" in text, f"{unit.name} lacks {line}"
    # systemd's own score: 0 (locked down) to 10 (unprotected); the threshold is ×10.
    analyze = require_tool("systemd-analyze", "systemd")
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(installed_copy(unit, tmp_path))],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-600:] + done.stderr


def test_the_api_units_ports_are_the_nginx_upstreams() -> None:
    api = (DEPLOY / "systemd" / "meetbook-api@.service").read_text()
    nginx = (DEPLOY / "nginx" / "meetbook.conf").read_text()
    assert "serve --host 127.0.0.1 --port %i --no-worker" in api
    for port in ("8001", "8002"):
        assert f"meetbook-api@{port}" in api and f"server 127.0.0.1:{port} " in nginx


def test_the_example_settings_file_names_only_real_settings() -> None:
    values = dotenv_values(DEPLOY / "meetbook.env.example")
    assert values, "deploy/meetbook.env.example is empty"
    fields = {f"MEETBOOK_{name.upper()}" for name in Settings.model_fields}
    assert set(values) <= fields, set(values) - fields
    given = {name.removeprefix("MEETBOOK_").lower(): value for name, value in values.items()}
    # The secret's placeholder is refused, so nobody runs with it by mistake ...
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(**given)
    # ... and with a real one the rest of the file is accepted as it stands.
    settings = Settings(**{**given, "secret_key": new_secret_key()})
    assert settings.database_url.startswith("postgresql+asyncpg://")


def test_a_shell_reads_the_settings_file_as_systemd_does() -> None:
    # docs/deploy.md runs one-off commands (db upgrade, users create) with
    # `set -a; . /etc/meetbook/meetbook.env`: the shell must see the same values.
    example = DEPLOY / "meetbook.env.example"
    done = subprocess.run(
        ["sh", "-c", 'set -a; . "$0"; env', str(example)],
        capture_output=True, text=True, timeout=30, check=True, env={},
    )  # fmt: skip
    seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    for name, value in dotenv_values(example).items():
        assert seen.get(name) == value, name
