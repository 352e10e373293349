"""The account commands of `meetbook` (CONTRACT §4), run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.accounts.people_helpers import STRONG
from tests.test_cli import cli_env, meetbook  # noqa: F401  (cli_env is a fixture)

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None):
    if stdin is None:
        return meetbook(*args, env=env, cwd=cwd)
    return subprocess.run(
        [sys.executable, "-m", "meetbook.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_people_commands_from_create_to_deactivate(cli_env, tmp_path: Path) -> None:  # noqa: F811
    env, tag = cli_env, tmp_path.name

    def run(*args: str, stdin: str | None = None):
        return _run(*args, env=env, cwd=tmp_path, stdin=stdin)

    admin = _lines(
        run("users", "create", "--name", "Ida", "--email", f"ida-{tag}@example.com", "--admin")
    )[0]
    member = _lines(run("users", "create", "--name", "Mo", "--email", f"mo-{tag}@example.com"))[0]
    users = {u["id"]: u for u in _lines(run("users", "list"))}
    assert users[admin["id"]]["admin"] is True and users[member["id"]]["admin"] is False
    assert users[member["id"]]["has_password"] is False

    weak = run("users", "set-password", "--user", str(member["id"]), stdin="password1\n")
    assert weak.returncode == 2 and len(weak.stderr.strip().splitlines()) == 1
    done = run("users", "set-password", "--user", str(member["id"]), stdin=STRONG + "\n")
    assert _lines(done) == [{"id": member["id"], "password_set": True}]

    team = _lines(run("teams", "create", "--name", f"Team {tag}"))[0]
    for user, role in ((admin, "admin"), (member, "member")):
        added = run(
            "teams",
            "add-member",
            "--team",
            str(team["id"]),
            "--user",
            str(user["id"]),
            "--role",
            role,
        )
        assert added.returncode == 0, added.stderr
    teams = {t["id"]: t for t in _lines(run("teams", "list"))}
    assert teams[team["id"]]["members"] == 2
    members = _lines(run("teams", "members", "--team", str(team["id"])))
    assert {(m["id"], m["role"]) for m in members} == {
        (admin["id"], "admin"),
        (member["id"], "member"),
    }

    last_admin = run(
        "teams", "remove-member", "--team", str(team["id"]), "--user", str(admin["id"])
    )
    assert last_admin.returncode == 4 and "at least one admin" in last_admin.stderr
    removed = run("teams", "remove-member", "--team", str(team["id"]), "--user", str(member["id"]))
    assert _lines(removed)[0]["cancelled_meetings"] == 0

    token = _lines(run("tokens", "create", "--user", str(member["id"]), "--name", "ci"))[0]
    listed = _lines(run("tokens", "list", "--user", str(member["id"])))
    assert [(t["id"], t["kind"], t["name"]) for t in listed] == [(token["id"], "api", "ci")]
    assert _lines(run("tokens", "revoke", "--id", str(token["id"]))) == [
        {"id": token["id"], "revoked": True}
    ]
    assert run("tokens", "revoke", "--id", str(token["id"])).returncode == 3
    assert _lines(run("tokens", "list", "--user", str(member["id"]))) == []

    gone = _lines(run("users", "deactivate", "--user", str(member["id"])))[0]
    assert gone["deactivated"] is True
    users = {u["id"]: u for u in _lines(run("users", "list"))}
    assert users[member["id"]]["active"] is False


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("tokens", "create", "--user", "999999"), 3),
        (("teams", "add-member", "--team", "999999", "--user", "1"), 3),
        (("users", "deactivate", "--user", "999999"), 3),
    ],
)
def test_not_found_is_one_exit_status(cli_env, tmp_path: Path, args, status) -> None:  # noqa: F811
    result = _run(*args, env=cli_env, cwd=tmp_path, stdin=STRONG + "\n")
    assert result.returncode == status, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_help_describes_every_option_and_the_exit_codes(tmp_path: Path) -> None:
    top = _run("--help", env={}, cwd=tmp_path)
    assert "3  not found" in top.stdout
    create = " ".join(_run("users", "create", "--help", env={}, cwd=tmp_path).stdout.split())
    assert "cannot sign in until one is set" in create and "--admin" in create
    add = _run("teams", "add-member", "--help", env={}, cwd=tmp_path).stdout
    assert "default: member" in add
