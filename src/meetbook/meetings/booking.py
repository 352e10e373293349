"""Booking numbers: the reference people read out on the phone, such as MB-7Q4K-9X2P-M3KC.

* Readable aloud: Crockford base32 has no I, L, O or U, so nothing looks like 1 or 0,
  and a reader who types O for 0, or I or L for 1, still gets a match.
* Not guessable: the 11 payload symbols (55 bits) come from `secrets`, not from the
  meeting id or the clock, so one booking number tells nothing about another. Draws
  collide with probability n²/2⁵⁶ (about 1 in 70 000 for a million bookings); the
  database's unique constraint catches that rare case.
* Typo-proof: the last symbol is a Luhn mod 32 check character, so validation rejects
  any single mistyped symbol and every swap of two adjacent symbols except 0↔Z (the
  mod 32 version of Luhn's 09↔90 blind spot).
"""

from __future__ import annotations

import re
import secrets

__all__ = ["is_valid_booking_number", "new_booking_number"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "MB"
PAYLOAD_LENGTH = 11

_N = len(ALPHABET)
_VALUES = {symbol: value for value, symbol in enumerate(ALPHABET)}
# Crockford's decoding aliases: letters that look like digits read as those digits.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# Luhn doubles every second value from the right and adds the base-32 "digits" of the
# product: for 2v < 32 that is 2v, else 1 + (2v - 32).
_DOUBLED = tuple(2 * v if 2 * v < _N else 2 * v - _N + 1 for v in range(_N))
_SHAPE = re.compile(rf"{PREFIX}[{ALPHABET}]{{{PAYLOAD_LENGTH + 1}}}", re.ASCII)


def new_booking_number() -> str:
    """A fresh random booking number, `MB-XXXX-XXXX-XXXX`."""
    bits = secrets.randbits(5 * PAYLOAD_LENGTH)
    values = [(bits >> (5 * i)) & (_N - 1) for i in range(PAYLOAD_LENGTH)]
    values.append(_check_value(values))
    symbols = "".join(map(ALPHABET.__getitem__, values))
    return f"{PREFIX}-{symbols[0:4]}-{symbols[4:8]}-{symbols[8:12]}"


def is_valid_booking_number(value: str) -> bool:
    """Whether `value` is a booking number with a correct check symbol.

    Case, hyphens and the Crockford aliases (O for 0, I and L for 1) do not matter.
    """
    # ASCII first: str.upper() would turn a dotless ı into I, and so into 1.
    if not isinstance(value, str) or len(value) > 40 or not value.isascii():
        return False
    compact = value.strip().upper().replace("-", "")
    if not compact.startswith(PREFIX):
        return False
    compact = PREFIX + compact[len(PREFIX) :].translate(_ALIASES)
    if not _SHAPE.fullmatch(compact):
        return False
    values = list(map(_VALUES.__getitem__, compact[len(PREFIX) :]))
    return _check_value(values[:-1]) == values[-1]


def _check_value(payload: list[int]) -> int:
    """The Luhn mod N check value that makes `payload` + check sum to 0 mod N."""
    # The check symbol will be the rightmost, so counting from the right the payload's
    # 1st, 3rd, 5th... values are the doubled ones.
    total = sum(map(_DOUBLED.__getitem__, payload[-1::-2])) + sum(payload[-2::-2])
    return (_N - total % _N) % _N
