#!/usr/bin/env bash
# Set up and run the whole test suite. PostgreSQL tests use MEETBOOK_TEST_POSTGRES_URL
# (default postgresql+asyncpg://postgres@127.0.0.1:5432/test) and skip with a message when
# it does not answer; browser tests use /usr/bin/chromium and skip likewise, as do
# tests/deploy without nginx or systemd-analyze. CI sets MEETBOOK_REQUIRE_POSTGRES=1,
# MEETBOOK_REQUIRE_BROWSER=1 and MEETBOOK_REQUIRE_DEPLOY_TOOLS=1 to make them mandatory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [ -f tests/e2e/package.json ] && command -v npm >/dev/null; then
  npm ci --prefix tests/e2e --silent --no-audit --no-fund
fi
exec .venv/bin/pytest "$@"
