"""meetbook.i18n: catalogs, the English fallback, Accept-Language, and dates by locale."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog

from meetbook import i18n_check
from meetbook.i18n import (
    LOCALES,
    _,
    compile_catalog,
    current_locale,
    negotiate,
    ngettext,
    speaking,
    translations,
)
from meetbook.timeformat import (
    day_label,
    format_clock,
    format_duration,
    format_range,
    format_when,
    format_when_short,
)

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
START = datetime(2025, 12, 15, 14, 0, tzinfo=UTC)  # 09:00 EST, 15:00 CET


def test_every_catalog_covers_every_message() -> None:
    """Fails listing, per language, each message still to translate (run scripts/i18n.sh)."""
    report = i18n_check.missing()
    assert not report, "\n" + i18n_check.describe(report)


def test_the_check_lists_a_new_message_for_every_language() -> None:
    template = i18n_check.extract()
    template.add("A sentence someone just added.")
    report = i18n_check.missing(template)
    assert set(report) == {"de", "es", "fr"}
    for gaps in report.values():
        assert gaps == ["'A sentence someone just added.': missing"]
    assert "src/meetbook/locale/de/LC_MESSAGES/messages.po: 1 to translate" in (
        i18n_check.describe(report)
    )


def test_the_check_refuses_a_translation_whose_placeholders_differ() -> None:
    english = Catalog(locale="en")
    message = english.add("Meeting with %(name)s")
    assert i18n_check.problem(message, english.add("x", "Termin mit %(nom)s")) == (
        "placeholders differ from the English"
    )
    fuzzy = english.add("y", "Termin mit %(name)s", flags=["fuzzy"])
    assert i18n_check.problem(message, fuzzy) is not None
    assert i18n_check.problem(message, english.add("z", "Termin mit %(name)s")) is None


def test_a_missing_untranslated_or_fuzzy_message_reads_in_english(tmp_path: Path) -> None:
    po = tmp_path / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Settings"\nmsgstr "Einstellungen"\n\n'
        'msgid "Profile"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "History"\nmsgstr "Verlauf"\n',
        encoding="utf-8",
    )
    compiled = compile_catalog(po, "de")
    assert compiled.gettext("Settings") == "Einstellungen"
    assert compiled.gettext("Profile") == "Profile"  # empty: English, never ""
    assert compiled.gettext("History") == "History"  # fuzzy: not trusted
    assert compiled.gettext("Not in the catalog at all") == "Not in the catalog at all"


def test_the_real_catalogs_fall_back_to_english_too() -> None:
    with speaking("de"):
        assert _("Settings") == "Einstellungen"
        assert _("A message no catalog has, %(name)s", name="Ann") == (
            "A message no catalog has, Ann"
        )
    with speaking("xx"):  # not a supported locale: English
        assert current_locale() == "en" and _("Settings") == "Settings"


def test_plural_forms_follow_the_language() -> None:
    one = "Too many sign-in attempts. Wait a minute and try again."
    many = "Too many sign-in attempts. Wait %(num)d minutes and try again."
    assert ngettext(one, many, 5) == "Too many sign-in attempts. Wait 5 minutes and try again."
    with speaking("fr"):
        assert "5 minutes" in ngettext(one, many, 5) and "une minute" in ngettext(one, many, 1)


def test_the_catalogs_load_for_every_language() -> None:
    for locale in LOCALES:
        with speaking(locale):
            assert current_locale() == locale
        assert translations(locale) is translations(locale)  # compiled once


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CA", "fr"),
        ("ES", "es"),
        ("en-US,en;q=0.9", "en"),
        ("pt-BR,pt;q=0.9", "en"),  # nothing offered fits: English
        ("pt;q=1, fr;q=0.5, de;q=0.7", "de"),  # by quality, not order
        ("de;q=0, fr", "fr"),  # q=0 means "not this one"
        ("*", "en"),
        ("", "en"),
        (None, "en"),
        ("de;q=abc, es", "es"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


@pytest.mark.parametrize(
    ("locale", "long", "short"),
    [
        (
            "en",
            "Monday 15 December 2025, 09:00 EST (America/New_York)",
            "15 Dec 2025, 09:00 EST",
        ),
        (
            "de",
            "Montag, 15. Dezember 2025, 09:00 EST (America/New_York)",
            "15. Dez. 2025, 09:00 EST",
        ),
        (
            "es",
            "lunes, 15 de diciembre de 2025, 9:00 EST (America/New_York)",
            "15 dic 2025, 9:00 EST",
        ),
        (
            "fr",
            "lundi 15 décembre 2025, 09:00 EST (America/New_York)",
            "15 déc. 2025, 09:00 EST",
        ),
    ],
)
def test_dates_use_the_language_day_and_month_names(locale: str, long: str, short: str) -> None:
    with speaking(locale):
        assert format_when(START, NEW_YORK) == long
        assert format_when_short(START, NEW_YORK) == short


def test_a_range_keeps_its_zone_labels_in_every_language() -> None:
    start = int(datetime(2026, 3, 8, 6, 30, tzinfo=UTC).timestamp())  # over spring-forward
    with speaking("de"):
        assert format_range(start, start + 3600, NEW_YORK) == (
            "So., 8. März 2026, 01:30 EST\u201303:30 EDT"
        )
    with speaking("fr"):
        assert format_range(start, start + 3600, PARIS).startswith("dim. 8 mars 2026")


def test_the_clock_is_12_or_24_hours_by_locale() -> None:
    morning, evening = datetime(2025, 12, 15, 9, 5), datetime(2025, 12, 15, 21, 5)
    assert format_clock(evening, "en_US") == "9:05\u202fPM"
    assert format_clock(morning, "en_US") == "9:05\u202fAM"
    assert format_clock(evening, "de") == "21:05"
    assert format_clock(evening, "fr") == "21:05"
    assert format_clock(evening) == "21:05"  # meetbook's English: 24 hours


def test_relative_days_and_durations_are_translated() -> None:
    now = datetime(2025, 12, 15, 12, 0, tzinfo=UTC)
    ts = int(now.timestamp())
    with speaking("es"):
        assert day_label(ts, PARIS, now) == "Hoy"
        assert day_label(ts + 86400, PARIS, now) == "Mañana"
        assert format_duration(60) == "1 hora"
        assert format_duration(30) == "30 minutos"
    assert format_duration(60) == "1 hour" and format_duration(90) == "90 minutes"
