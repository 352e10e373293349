"""What the deployment tests need from the host: Debian's systemd-analyze and nginx.

Missing, the tests are skipped with a message saying what to install, unless
MEETBOOK_REQUIRE_DEPLOY_TOOLS=1 (set by .ci/run, which installs both), where they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def require_tool(name: str, package: str, default: str | None = None) -> str:
    """The path of the program `name`, or skip (fail on CI) saying which package has it."""
    found = shutil.which(name) or (default if default and Path(default).is_file() else None)
    if found:
        return found
    message = f"{name} not found: `apt-get install -y {package}` to run these tests"
    if os.environ.get("MEETBOOK_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(f"{message} (MEETBOOK_REQUIRE_DEPLOY_TOOLS=1)", pytrace=False)
    pytest.skip(message)
