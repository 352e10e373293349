"""The operator's VAPID key (RFC 8292): loading it and the public key browsers subscribe with.

Apart from `webpush.py` so the API can publish the key without importing the push stack
(pywebpush, aiohttp), which only the worker needs and only when Web Push is configured.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def load_private_key(pem_path: str | Path) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 private key in `pem_path`; ValueError for any other key."""
    key = serialization.load_pem_private_key(Path(pem_path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be an EC P-256 private key")
    return key


def vapid_application_server_key(pem_path: str | Path) -> str:
    """The base64url uncompressed public point, for PushManager.subscribe(applicationServerKey)."""
    public = load_private_key(pem_path).public_key()
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()
