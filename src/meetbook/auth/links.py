"""Tokens of emailed links (team invites, password resets), never stored.

A link's token is `<row id>.<MAC>`: an HMAC-SHA256 of the purpose, the row's id and its
random `salt` under the server's secret key. The database keeps only the salt, so
neither a copy of the database nor a log line holds a usable link; the worker recomputes
the token when it writes the email, and a link is checked by recomputing it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Literal

Purpose = Literal["invite", "password-reset"]
MAX_LINK_TOKEN = 120


def new_salt() -> str:
    return secrets.token_hex(16)


def link_token(secret_key: str, purpose: Purpose, row_id: int, salt: str) -> str:
    mac = hmac.new(secret_key.encode(), f"{purpose}:{row_id}:{salt}".encode(), hashlib.sha256)
    return f"{row_id}.{base64.urlsafe_b64encode(mac.digest()).decode().rstrip('=')}"


def link_row_id(token: object) -> int | None:
    """The row id a token names (not yet checked), or None when it is not a token."""
    if not isinstance(token, str) or len(token) > MAX_LINK_TOKEN or not token.isascii():
        return None
    head, dot, _ = token.partition(".")
    if not dot or not head.isdigit() or len(head) > 18:
        return None
    return int(head)


def link_matches(secret_key: str, purpose: Purpose, row_id: int, salt: str, token: str) -> bool:
    expected = link_token(secret_key, purpose, row_id, salt)
    return hmac.compare_digest(expected.encode(), token.encode())
