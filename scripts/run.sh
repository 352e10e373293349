#!/usr/bin/env bash
# Set up (only when needed, see setup.sh) and run meetbook on the embedded default: SQLite,
# in-process worker, dev mailbox, with the demo people and their tokens printed. The demo
# tokens are kept in meetbook-demo-tokens.json (0600) beside the database and reused on
# every restart; `meetbook serve` refuses a taken port before doing anything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev >/dev/null
exec .venv/bin/meetbook serve --demo "$@"
