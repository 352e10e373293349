"""Webhook signing secrets: made once, shown once, stored encrypted.

A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form, which the
reference library's `Webhook(secret)` reads). It is stored as a Fernet token under a key
derived from MEETBOOK_SECRET_KEY with HKDF-SHA256 (its own `info`, so the key differs from
every other use of the secret key): a database dump or backup alone does not reveal it,
the API has no route that decrypts it, and only the worker opens it to sign. Changing
MEETBOOK_SECRET_KEY makes the stored secrets unreadable: such webhooks fail to deliver
and must be added again (a new secret).
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SECRET_PREFIX = "whsec_"
_INFO = b"meetbook webhook signing secrets v1"

__all__ = ["SECRET_PREFIX", "InvalidToken", "new_secret", "open_secret", "seal_secret"]


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal_secret(secret: str, secret_key: str) -> str:
    """The secret encrypted for storage."""
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def open_secret(sealed: str, secret_key: str) -> str:
    """The stored secret in clear; InvalidToken when the secret key has changed."""
    return _fernet(secret_key).decrypt(sealed.encode()).decode()
