"""The rule for a new password: long enough, and not one a cracker would guess early.

Strength is rated by zxcvbn (Dropbox's estimator, with its dictionaries of common
passwords, names and words): a score below 3 ("safely unguessable: moderate
protection from offline attacks") is refused with the estimator's own advice.

zxcvbn is imported on the first rating, not with this module: its dictionaries take
~12 MB of memory, which an API process that never sets a password does not need.
"""

from __future__ import annotations

from collections.abc import Sequence

from meetbook.errors import BadRequest

MIN_PASSWORD_LENGTH = 10
MIN_SCORE = 3
# zxcvbn refuses longer input (its matching is superlinear); a password whose first 72
# characters are strong is strong.
_RATED_LENGTH = 72


def password_problem(password: str, *, user_inputs: Sequence[str] = ()) -> str | None:
    """Why `password` may not be used, as one sentence; None when it is acceptable.

    `user_inputs` (the account's email, name) count as easy guesses.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters long."
    from zxcvbn import zxcvbn  # here, not at the top: see the module docstring

    inputs = [text[:_RATED_LENGTH] for text in user_inputs if text]
    rating = zxcvbn(password[:_RATED_LENGTH], user_inputs=inputs)
    if rating["score"] >= MIN_SCORE:
        return None
    feedback = rating["feedback"]
    advice = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
    why = " ".join(text.strip() for text in advice if text and text.strip())
    return "password is too easy to guess." + (f" {why}" if why else "")


def check_new_password(password: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Raise BadRequest (naming `password` and why) unless `password` is acceptable."""
    problem = password_problem(password, user_inputs=user_inputs)
    if problem is not None:
        raise BadRequest(
            problem[0].upper() + problem[1:], details=[{"field": "password", "message": problem}]
        )
