"""The reader's language: gettext catalogs (Babel) and the locale in effect.

English is the source language: a message id *is* the English text, so a message a
catalog lacks (or leaves untranslated, or marks fuzzy) reads in English, never as an id.
The catalogs are `locale/<lang>/LC_MESSAGES/messages.po`, compiled in memory the first
time a language is used (no `.mo` files, no build step). `scripts/i18n.sh` extracts,
updates and checks them (CONTRIBUTING.md).

Who reads decides the language: a page follows the signed-in viewer's `locale` (signed
out: the browser's Accept-Language), an email or push its recipient's. The language in
effect is a context variable, set per request (web/session.py) or per rendered
notification (`speaking`), so `_()` and `meetbook.timeformat` need no locale argument.
The JSON API stays English and locale-independent.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from gettext import NullTranslations
from pathlib import Path
from typing import Literal, get_args

from babel.core import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment

Locale = Literal["en", "de", "es", "fr"]
LOCALES: tuple[Locale, ...] = get_args(Locale)
DEFAULT_LOCALE: Locale = "en"
# Each language's name in itself, for the language selector.
LOCALE_NAMES: dict[Locale, str] = {
    "en": "English",
    "de": "Deutsch",
    "es": "Español",
    "fr": "Français",
}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_current: ContextVar[Locale] = ContextVar("meetbook_locale", default=DEFAULT_LOCALE)


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def as_locale(value: object) -> Locale:
    """`value` if it is a supported locale, else the default."""
    for locale in LOCALES:
        if value == locale:
            return locale
    return DEFAULT_LOCALE


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of `locale`; English (and anything unknown) is the identity."""
    path = catalog_path(locale)
    if locale == DEFAULT_LOCALE or locale not in LOCALES or not path.is_file():
        return NullTranslations()
    return compile_catalog(path, locale)


def compile_catalog(path: Path, locale: str) -> NullTranslations:
    """A `.po` file compiled in memory, as `pybabel compile` would (without the file)."""
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    compiled = io.BytesIO()
    # write_mo leaves out untranslated and fuzzy messages: gettext then answers English.
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def current_locale() -> Locale:
    return _current.get()


def use_locale(locale: object) -> Locale:
    """Speak `locale` for the rest of this task (a request); returns the one chosen."""
    chosen = as_locale(locale)
    _current.set(chosen)
    return chosen


@contextmanager
def speaking(locale: object) -> Iterator[Locale]:
    """Speak `locale` inside the block (one notification for one reader)."""
    token = _current.set(as_locale(locale))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def gettext(message: str, **values: object) -> str:
    """`message` in the current language; `%(name)s` placeholders filled from `values`."""
    text = translations(_current.get()).gettext(message)
    return text % values if values else text


_ = gettext


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """The singular or plural form for `n` (available as `%(num)d`)."""
    text = translations(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; `_()` translates it when read."""
    return message


def raw_gettext(message: str) -> str:
    """For Jinja's i18n extension, which fills the placeholders itself."""
    return translations(_current.get()).gettext(message)


def raw_ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def negotiate(accept_language: str | None) -> Locale:
    """The best supported locale for an Accept-Language header; English when none fits."""
    preferred: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            preferred.append((-quality, index, tag.strip().lower()))
    ordered = [tag for _q, _i, tag in sorted(preferred)]
    return as_locale(negotiate_locale(ordered, list(LOCALES), sep="-"))


def install_in_jinja(env: Environment) -> None:
    """`{% trans %}`, `_()` and `ngettext()` in `env`'s templates, speaking the current language.

    New-style gettext: placeholders are `%(name)s`, filled (and escaped in HTML) by Jinja.
    Whitespace inside `{% trans %}` blocks is trimmed, as `babel.cfg` extracts it.
    """
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=raw_gettext, ngettext=raw_ngettext, newstyle=True
    )
    env.globals["current_locale"] = current_locale
    # A translation with its placeholders left in, for a script to fill (static/app.js).
    env.globals["message_template"] = raw_gettext
