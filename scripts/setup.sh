#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install meetbook with the pinned versions of constraints.txt.
# Installs only when needed: .venv/.meetbook-install holds a hash of what was installed
# (pyproject.toml, constraints.txt, the extras); the install reruns only when that changes.
# The install is editable, so changes to src/ need no reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
extras=${1:-dev}
stamp=.venv/.meetbook-install
wanted=$(cat pyproject.toml constraints.txt <(echo "extras=$extras") | "$PYTHON" -c \
  'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
if [ -x .venv/bin/meetbook ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
echo "Installing meetbook into .venv (first run, or pyproject.toml/constraints.txt changed)" >&2
rm -f "$stamp"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -c constraints.txt -e ".[${extras}]"
echo "$wanted" > "$stamp"
