"""Encrypting linked-calendar passwords at rest with a key derived from the secret key.

Fernet (AES-128-CBC + HMAC-SHA256) with its key from HKDF-SHA256 over MEETBOOK_SECRET_KEY
and a purpose label, so the same secret key signing cookies never serves as this key
directly, and a database dump without the secret key gives away no password.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"meetbook linked calendar password v1"


class CannotDecrypt(ValueError):
    """The stored password was encrypted with another secret key."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_password(secret_key: str, password: str) -> str:
    return _fernet(secret_key).encrypt(password.encode()).decode("ascii")


def decrypt_password(secret_key: str, token: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise CannotDecrypt("the stored password cannot be read with this secret key") from None
