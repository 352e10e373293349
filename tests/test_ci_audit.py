"""The CI audit step (.ci/audit.py): a known vulnerability fails; no verdict is said aloud."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "audit.py"


@pytest.fixture
def audit(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.delenv("MEETBOOK_REQUIRE_AUDIT", raising=False)
    spec = importlib.util.spec_from_file_location("ci_audit", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLEAN = {"name": "fastapi", "version": "0.165.0", "vulns": []}
SKIPPED = {"name": "uvicorn", "skip_reason": "Dependency not found on PyPI: uvicorn (0.54.0)"}
VULNERABLE = {
    "name": "requests",
    "version": "2.19.0",
    "vulns": [{"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"], "description": "..."}],
}


def test_a_known_vulnerability_fails(audit: ModuleType) -> None:
    status, lines = audit.verdict({"dependencies": [CLEAN, VULNERABLE, SKIPPED]})
    assert status == 1
    assert any("requests 2.19.0: PYSEC-2018-28 (fixed in 2.20.0)" in line for line in lines)


def test_a_clean_report_passes(audit: ModuleType) -> None:
    assert audit.verdict({"dependencies": [CLEAN]}) == (
        0,
        ["pip-audit: 1 locked dependencies, no known vulnerabilities."],
    )


def test_an_unreachable_database_warns_instead_of_passing_silently(
    audit: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every package "not found" (a mirror without PyPI's JSON API): nothing was audited.
    status, lines = audit.verdict({"dependencies": [SKIPPED]})
    assert status == 0 and "WARNING" in lines[0] and "nothing was audited" in lines[0]
    status, lines = audit.verdict(None, "Failed to resolve 'api.osv.dev'")
    assert status == 0 and "WARNING" in lines[0] and "api.osv.dev" in lines[0]
    # Some audited, some not: the audited ones still count; the rest is named.
    status, lines = audit.verdict({"dependencies": [CLEAN, SKIPPED]})
    assert status == 0 and "1 of 2" in lines[0]
    monkeypatch.setenv("MEETBOOK_REQUIRE_AUDIT", "1")
    assert audit.verdict(None, "offline")[0] == 1
    assert audit.verdict({"dependencies": [SKIPPED]})[0] == 1
