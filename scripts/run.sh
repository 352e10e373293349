#!/usr/bin/env bash
# Set up and run meetbook on the embedded default: SQLite, in-process worker, dev mailbox,
# with demo people and tokens printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev >/dev/null
exec .venv/bin/meetbook serve --demo "$@"
