"""Is every message translated? `python -m meetbook.i18n_check` (run by scripts/i18n.sh).

Extracts the messages from the sources right now (babel.cfg), so a message added without
running the script is reported too, and lists per language what its catalog lacks:
missing, empty, fuzzy (to review), or with placeholders (`%(name)s`) that differ from the
English, which would break when the message is filled in. Needs a source checkout.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from meetbook.i18n import DEFAULT_LOCALE, DOMAIN, LOCALES, catalog_path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "babel.cfg"
_PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# gettext's usual keywords plus the templates' message_template (scripts/i18n.sh: -k).
KEYWORDS = {**DEFAULT_KEYWORDS, "message_template": None}

MessageId = str | tuple[str, ...] | list[str]


def extract(root: Path = ROOT / "src") -> Catalog:
    """Every message of the sources, as `pybabel extract -F babel.cfg` finds them."""
    if not CONFIG.is_file():
        raise SystemExit(f"{CONFIG} not found: run this from a meetbook source checkout.")
    with CONFIG.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(domain=DOMAIN)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _placeholders(texts: Iterable[str]) -> set[str]:
    return {name for text in texts for name in _PLACEHOLDER.findall(text)}


def _texts(value: MessageId) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def problem(english: Message, translated: Message | None) -> str | None:
    """Why `translated` does not cover `english`, or None when it does."""
    if translated is None:
        return "missing"
    strings = _texts(translated.string or "")
    if not all(strings):
        return "not translated"
    if translated.fuzzy:
        return "fuzzy (review it, then remove the fuzzy flag)"
    # A plural's singular may leave the number out ("a minute"), so compare the union.
    if _placeholders(strings) != _placeholders(_texts(english.id)):
        return "placeholders differ from the English"
    return None


def missing(template: Catalog | None = None) -> dict[str, list[str]]:
    """Per language, `msgid: problem` for every message its catalog does not cover."""
    template = template or extract()
    report: dict[str, list[str]] = {}
    for locale in LOCALES:
        if locale == DEFAULT_LOCALE:
            continue  # English is the source: the message ids are the English text
        path = catalog_path(locale)
        if not path.is_file():
            report[locale] = [f"the catalog {path.relative_to(ROOT)} does not exist"]
            continue
        with path.open("rb") as po:
            catalog = read_po(po, locale=locale, domain=DOMAIN)
        gaps = []
        for english in template:
            if not english.id:
                continue
            found = problem(english, catalog.get(english.id, english.context))
            if found:
                gaps.append(f"{_texts(english.id)[0]!r}: {found}")
        if gaps:
            report[locale] = gaps
    return report


def describe(report: dict[str, list[str]]) -> str:
    lines = []
    for locale, gaps in report.items():
        lines.append(f"{catalog_path(locale).relative_to(ROOT)}: {len(gaps)} to translate")
        lines.extend(f"  {gap}" for gap in gaps)
    lines.append("Run `bash scripts/i18n.sh`, translate the entries listed, and run it again.")
    return "\n".join(lines)


def main() -> int:
    report = missing()
    if report:
        print(describe(report), file=sys.stderr)
        return 1
    print(f"Every message is translated in {', '.join(LOCALES)}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
