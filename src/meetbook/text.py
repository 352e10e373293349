"""The one rule for text that people type: names, token labels, reasons.

Every human-text field on every path (API bodies, web forms, the CLI) goes through
`clean_line` (one line: names, labels) or `clean_text` (several lines: reasons, notes).
Both refuse what a reader cannot see or what changes how the text around it is shown:

* control characters: C0 (NUL, BEL, ESC, ...), DEL and C1 (U+0080-U+009F). `clean_text`
  keeps line breaks and tabs (CR LF and CR become LF);
* bidirectional embeddings, overrides, isolates and marks (U+202A-U+202E,
  U+2066-U+2069, U+200E, U+200F, U+061C), which make a name read differently in a page or
  an email than it is stored;
* other format characters (zero-width space U+200B, word joiner U+2060, BOM U+FEFF, soft
  hyphen, ...). The zero-width non-joiner and joiner (U+200C, U+200D) are part of how
  Persian, Arabic and Indic names and emoji sequences are spelt, so they pass between two
  characters of such scripts (from U+0590 on) or inside an emoji sequence, and nowhere
  else: between Latin letters they only make two names look alike;
* line and paragraph separators (U+2028, U+2029), lone surrogates and noncharacters.

Accepted text is normalised to NFC and trimmed; the length is counted after that.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.config import JsonDict

from meetbook.errors import BadRequest

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_NOTES_LENGTH",
    "MAX_REASON_LENGTH",
    "MAX_TITLE_LENGTH",
    "MAX_TOKEN_NAME_LENGTH",
    "MeetingNotes",
    "MeetingTitle",
    "PersonName",
    "Reason",
    "TextProblem",
    "TokenName",
    "clean_line",
    "clean_text",
    "hostile_character",
]

MAX_NAME_LENGTH = 200
MAX_TOKEN_NAME_LENGTH = 100
MAX_REASON_LENGTH = 500
MAX_TITLE_LENGTH = 200
MAX_NOTES_LENGTH = 2000

_JOINERS = frozenset("\u200c\u200d")
# Categories refused outright: controls, format characters, surrogates, separators of
# lines and paragraphs. Noncharacters are checked by code point (they are "Cn", like the
# unassigned code points a future Unicode version may give to new letters or emoji).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class TextProblem(ValueError):
    """Text a person typed that meetbook refuses; str() completes "<field> ..." as a sentence."""


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _joins(before: str, after: str) -> bool:
    """Whether a ZWJ/ZWNJ between `before` and `after` can be part of the spelling."""
    emoji = unicodedata.category(before) in ("So", "Sk") or before == "\ufe0f"
    if emoji and unicodedata.category(after) == "So":
        return True
    letters = all(unicodedata.category(c)[0] in "LM" and ord(c) >= 0x0590 for c in (before, after))
    return letters


def hostile_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character of `value` that the rule refuses, as `U+XXXX`, or None."""
    for index, char in enumerate(value):
        if multiline and char in "\n\t":
            continue
        code = ord(char)
        if char in _JOINERS:
            if 0 < index < len(value) - 1 and _joins(value[index - 1], value[index + 1]):
                continue
            return f"U+{code:04X}"
        if unicodedata.category(char) in _REFUSED_CATEGORIES or _is_noncharacter(code):
            return f"U+{code:04X}"
    return None


def _check(value: str, *, max_length: int, multiline: bool, required: bool) -> str:
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    bad = hostile_character(value, multiline=multiline)
    if bad is not None:
        allowed = " (line breaks and tabs are fine)" if multiline else ""
        raise TextProblem(
            f"must not contain control characters or invisible characters (found {bad}){allowed}"
        )
    value = unicodedata.normalize("NFC", value).strip()
    if required and not value:
        raise TextProblem("must not be empty")
    if len(value) > max_length:
        raise TextProblem(f"must be at most {max_length} characters")
    return value


def _as_bad_request(field: str, problem: TextProblem) -> BadRequest:
    return BadRequest(f"{field} {problem}.", details=[{"field": field, "message": str(problem)}])


def clean_line(value: str, field: str, max_len: int, *, required: bool = True) -> str:
    """One line of human text, NFC and trimmed; a 400 (`BadRequest`) naming `field`."""
    try:
        return _check(value, max_length=max_len, multiline=False, required=required)
    except TextProblem as problem:
        raise _as_bad_request(field, problem) from None


def clean_text(value: str, field: str, max_len: int, *, required: bool = False) -> str:
    """Several lines of human text (line breaks and tabs kept), NFC and trimmed."""
    try:
        return _check(value, max_length=max_len, multiline=True, required=required)
    except TextProblem as problem:
        raise _as_bad_request(field, problem) from None


def _validator(*, max_length: int, multiline: bool, required: bool) -> AfterValidator:
    # Pydantic names the field itself ("Invalid value for name: must not ..."), so the
    # validator raises the bare TextProblem (a ValueError).
    return AfterValidator(
        functools.partial(_check, max_length=max_length, multiline=multiline, required=required)
    )


def _documented(max_length: int, *, required: bool) -> Any:
    # The schema states the limit the validator enforces (after normalising).
    schema: JsonDict = {"maxLength": max_length, "minLength": 1 if required else 0}
    return Field(json_schema_extra=schema)


# Field types for the request models. Pydantic checks the type (a string) first, then this.
PersonName = Annotated[
    str,
    _validator(max_length=MAX_NAME_LENGTH, multiline=False, required=True),
    _documented(MAX_NAME_LENGTH, required=True),
]
"""A person's or a team's name: one line, not empty, at most 200 characters."""

TokenName = Annotated[
    str,
    _validator(max_length=MAX_TOKEN_NAME_LENGTH, multiline=False, required=False),
    _documented(MAX_TOKEN_NAME_LENGTH, required=False),
]
"""A token's label: one line, at most 100 characters; empty means "use the default"."""

Reason = Annotated[
    str,
    _validator(max_length=MAX_REASON_LENGTH, multiline=True, required=False),
    _documented(MAX_REASON_LENGTH, required=False),
]
"""Why a meeting was rejected or cancelled: lines and tabs allowed, at most 500 characters."""

MeetingTitle = Annotated[
    str,
    _validator(max_length=MAX_TITLE_LENGTH, multiline=False, required=False),
    _documented(MAX_TITLE_LENGTH, required=False),
]
"""A meeting's subject: one line, at most 200 characters; empty means none."""

MeetingNotes = Annotated[
    str,
    _validator(max_length=MAX_NOTES_LENGTH, multiline=True, required=False),
    _documented(MAX_NOTES_LENGTH, required=False),
]
"""A meeting's agenda or notes: lines and tabs allowed, at most 2000 characters."""
