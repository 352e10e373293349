"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
    parse_retry_after,
)

# RFC 8292 forbids a VAPID token valid for more than 24 hours.
_VAPID_LIFETIME = 12 * 3600


def _load_private_key(pem_path: str | Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(Path(pem_path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the VAPID key must be an EC P-256 private key")
    return key


def vapid_application_server_key(pem_path: str | Path) -> str:
    """The base64url uncompressed public point, for PushManager.subscribe(applicationServerKey)."""
    public = _load_private_key(pem_path).public_key()
    point = public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(point).rstrip(b"=").decode()


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentDeliveryError(f"push endpoint is not an http(s) URL: {endpoint[:200]!r}")
    # The audience is scheme://host[:port] without user info.
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}"


class WebPushSender:
    """Encrypts and posts payloads to browser push services."""

    def __init__(
        self,
        private_key_path: str | Path,
        subject: str,
        *,
        ttl: int = 24 * 3600,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """`subject` is the operator's contact, a `mailto:` or `https:` URL (RFC 8292 §2.1)."""
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https:// URL")
        # Loaded here rather than by pywebpush, whose from_file() silently creates a new key
        # when the path does not exist.
        key = _load_private_key(private_key_path)
        self._vapid = Vapid(key)
        self.subject = subject
        self.ttl = ttl
        self.timeout = timeout
        self._session = session

    async def send(self, subscription: dict[str, Any], payload: dict[str, str]) -> None:
        """Deliver `payload` (as JSON) to one subscription, or raise a classified error."""
        endpoint = subscription.get("endpoint")
        if not isinstance(endpoint, str):
            raise PermanentDeliveryError("push subscription has no endpoint")
        claims: dict[str, str | int] = {
            "sub": self.subject,
            "aud": _origin(endpoint),
            "exp": int(time.time()) + _VAPID_LIFETIME,
        }
        try:
            await webpush_async(
                subscription_info=subscription,
                data=json.dumps(payload, separators=(",", ":")),
                vapid_private_key=self._vapid,
                vapid_claims=claims,
                content_encoding="aes128gcm",
                ttl=self.ttl,
                timeout=self.timeout,
                aiohttp_session=self._session,
            )
        except WebPushException as error:
            raise _classify(error) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            raise TemporaryDeliveryError(f"push service unreachable: {error!r}") from error
        except (ValueError, TypeError) as error:
            # Malformed subscription keys (bad base64, wrong length).
            raise PermanentDeliveryError(f"unusable push subscription: {error}") from error


def _classify(error: WebPushException) -> PermanentDeliveryError | TemporaryDeliveryError:
    status: int | None = error.status_code
    if status is None:  # raised before any request: the subscription itself is unusable
        return PermanentDeliveryError(f"unusable push subscription: {error.message}")
    reason = f"push service {status}: {str(error.message)[:500]}"
    if status in (404, 410):
        return RecipientGone(reason)
    if status == 429 or status >= 500:
        return TemporaryDeliveryError(reason, parse_retry_after(error.retry_after))
    return PermanentDeliveryError(reason)
