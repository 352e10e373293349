#!/usr/bin/env bash
# Languages (CONTRIBUTING.md): extract every message, merge it into each catalog, check.
#   bash scripts/i18n.sh          extract -> update the catalogs -> check
#   bash scripts/i18n.sh check    check only (what CI's test_catalogs_cover_every_message does)
# The check lists, per language, each message still to translate; it exits 1 until none is.
# Catalogs are compiled when the app loads them: there is no .mo file to build or commit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
LOCALE_DIR=src/meetbook/locale
POT=$LOCALE_DIR/messages.pot
if [ "${1:-}" != "check" ]; then
  # Keywords: gettext's usual ones, plus message_template (meetbook/i18n_check.py: KEYWORDS).
  .venv/bin/pybabel -q extract -F babel.cfg -k message_template --sort-output --add-location=file \
    --project=meetbook --copyright-holder="meetbook contributors" -o "$POT" src
  for lang in de es fr; do
    if [ -f "$LOCALE_DIR/$lang/LC_MESSAGES/messages.po" ]; then
      .venv/bin/pybabel -q update -i "$POT" -d "$LOCALE_DIR" -l "$lang" \
        --ignore-obsolete --init-missing
    else
      .venv/bin/pybabel -q init -i "$POT" -d "$LOCALE_DIR" -l "$lang"
    fi
  done
fi
.venv/bin/python -m meetbook.i18n_check
