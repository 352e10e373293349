"""Audit the locked dependencies (constraints.txt) for known vulnerabilities with pip-audit.

A known vulnerability fails CI. pip-audit needs a vulnerability database (PyPI's JSON API
by default); when it cannot use one (offline, or a PyPI mirror without the per-release
JSON API, where every package comes back "not found on PyPI" and pip-audit still says "No
known vulnerabilities found") there is no verdict to give: the step says so loudly and
passes, instead of failing every build or passing silently. MEETBOOK_REQUIRE_AUDIT=1 makes
that case fail too (for a CI runner that does reach PyPI).

    python .ci/audit.py [constraints.txt]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 600


def verdict(report: dict[str, Any] | None, problem: str = "") -> tuple[int, list[str]]:
    """The exit status and the lines to print for a pip-audit JSON report (None: no report)."""
    required = os.environ.get("MEETBOOK_REQUIRE_AUDIT") == "1"
    unaudited_status = 1 if required else 0
    if report is None:
        return unaudited_status, [
            "WARNING: pip-audit could not check the dependencies (no vulnerability database"
            f" reachable): {problem or 'no report'}. Nothing was audited."
        ]
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d]
    if vulnerable:
        lines = [f"pip-audit: {len(vulnerable)} locked dependencies have known vulnerabilities:"]
        for dependency in vulnerable:
            for vuln in dependency["vulns"]:
                fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
                lines.append(
                    f"  {dependency['name']} {dependency.get('version', '?')}: {vuln['id']}"
                    f" (fixed in {fixes})"
                )
        return 1, lines
    audited = len(dependencies) - len(skipped)
    if skipped:
        rest = (
            f"the other {audited} have no known vulnerabilities."
            if audited
            else "nothing was audited (is PyPI's JSON API reachable?)."
        )
        return unaudited_status if audited == 0 else 0, [
            f"WARNING: pip-audit could not audit {len(skipped)} of {len(dependencies)} locked"
            f" dependencies (e.g. {skipped[0]['skip_reason']}); {rest}"
        ]
    return 0, [f"pip-audit: {audited} locked dependencies, no known vulnerabilities."]


def main(constraints: str = "constraints.txt") -> int:
    with tempfile.TemporaryDirectory() as folder:
        report_path = Path(folder) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            constraints,
            "--no-deps",  # constraints.txt is already the whole resolved set
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report_path),
        ]
        try:
            ran = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
            problem = (ran.stderr.strip().splitlines() or [f"exit status {ran.returncode}"])[-1]
        except subprocess.TimeoutExpired:
            problem = f"no answer within {TIMEOUT_SECONDS} s"
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            report = None
    status, lines = verdict(report, problem)
    print("\n".join(lines), file=sys.stderr if status or "WARNING" in lines[0] else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
