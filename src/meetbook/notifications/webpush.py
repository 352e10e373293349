"""Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
    parse_retry_after,
)
from meetbook.notifications.vapid import load_private_key
from meetbook.outbound import OutboundRefused, resolve_public_url
from meetbook.outbound_http import public_only_session

log = logging.getLogger("meetbook.notifications")

# RFC 8292 forbids a VAPID token valid for more than 24 hours.
_VAPID_LIFETIME = 12 * 3600
# RFC 8030 §5.3 and §5.4.
URGENCIES = ("very-low", "low", "normal", "high")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")


def _b64url_decode(text: object) -> bytes:
    if not isinstance(text, str):
        return b""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return b""


def _audience(subscription: dict[str, Any]) -> str:
    """The endpoint's origin, after checking the subscription is one a browser could produce."""
    # Checked here because pywebpush fails on malformed keys with assorted exceptions.
    endpoint = subscription.get("endpoint")
    parts = urlsplit(endpoint if isinstance(endpoint, str) else "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentDeliveryError("the push endpoint is not an http(s) URL")
    keys = subscription.get("keys")
    keys = keys if isinstance(keys, dict) else {}
    p256dh = _b64url_decode(keys.get("p256dh"))
    if len(p256dh) != 65 or p256dh[0] != 4:
        raise PermanentDeliveryError("push subscription p256dh is not an uncompressed P-256 point")
    if len(_b64url_decode(keys.get("auth"))) != 16:
        raise PermanentDeliveryError("push subscription auth secret is not 16 bytes")
    # The audience is scheme://host[:port], without any user info.
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


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
        allow_private_targets: bool = False,
    ) -> None:
        """`subject` is the operator's contact, a `mailto:` or `https:` URL (RFC 8292 §2.1).

        Endpoints are users' input: unless `allow_private_targets`, each send checks that
        the endpoint is https to public addresses only (meetbook.outbound).
        """
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https:// URL")
        # Loaded here rather than by pywebpush, whose from_file() silently creates a new key
        # when the path does not exist.
        key = load_private_key(private_key_path)
        self._vapid = Vapid(key)
        self.subject = subject
        self.ttl = ttl
        self.timeout = timeout
        self._session = session
        self.allow_private_targets = allow_private_targets

    async def send(
        self,
        subscription: dict[str, Any],
        payload: dict[str, str],
        *,
        urgency: str = "normal",
        topic: str | None = None,
    ) -> None:
        """Deliver `payload` (as JSON) to one subscription, or raise a classified error.

        `urgency` tells the push service how soon to wake the device; a newer message with
        the same `topic` replaces one still waiting for an offline device.
        """
        if urgency not in URGENCIES:
            raise ValueError(f"Urgency must be one of {', '.join(URGENCIES)}")
        headers: dict[str, str | int | float] = {"Urgency": urgency}
        if topic is not None:
            if not _TOPIC.fullmatch(topic):
                raise ValueError("a Topic is at most 32 URL-safe base64 characters")
            headers["Topic"] = topic
        claims: dict[str, str | int] = {
            "sub": self.subject,
            "aud": _audience(subscription),
            "exp": int(time.time()) + _VAPID_LIFETIME,
        }
        try:
            # Checked again at every send: the name's DNS answer may have changed.
            await resolve_public_url(
                subscription["endpoint"], allow_private=self.allow_private_targets
            )
            if self._session is not None:
                await self._post(self._session, subscription, payload, claims, headers)
            else:
                # The session's resolver re-checks the addresses it connects to, and
                # redirects, so neither a DNS change nor a 307 can reach inside.
                async with public_only_session(allow_private=self.allow_private_targets) as session:
                    await self._post(session, subscription, payload, claims, headers)
        except OutboundRefused as error:
            log.warning("notification.webpush.refused_target", extra={"reason": error.reason})
            raise PermanentDeliveryError(
                "the push endpoint is not a public https address"
            ) from error
        except WebPushException as error:
            raise _classify(error) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            log.warning("notification.webpush.unreachable", extra={"error": repr(error)[:300]})
            raise TemporaryDeliveryError(
                f"push service unreachable ({type(error).__name__})"
            ) from error
        except ValueError as error:
            # A point that is well-formed but not on the curve.
            raise PermanentDeliveryError("unusable push subscription (bad key)") from error

    async def _post(
        self,
        session: aiohttp.ClientSession,
        subscription: dict[str, Any],
        payload: dict[str, str],
        claims: dict[str, str | int],
        headers: dict[str, str | int | float],
    ) -> None:
        await webpush_async(
            subscription_info=subscription,
            data=json.dumps(payload, separators=(",", ":")),
            vapid_private_key=self._vapid,
            vapid_claims=claims,
            content_encoding="aes128gcm",
            ttl=self.ttl,
            headers=headers,
            timeout=self.timeout,
            aiohttp_session=session,
        )


def _classify(error: WebPushException) -> PermanentDeliveryError | TemporaryDeliveryError:
    status: int | None = error.status_code
    if status is None:  # raised before any request: the subscription itself is unusable
        return PermanentDeliveryError("unusable push subscription")
    # The push service's answer is not shown to users (the notification list is readable
    # by both participants); the log keeps it for the operator.
    log.warning(
        "notification.webpush.refused",
        extra={"status": status, "answer": str(error.message)[:500]},
    )
    reason = f"HTTP {status} from the push service"
    if status in (404, 410):
        return RecipientGone(reason)
    if status == 429 or status >= 500:
        return TemporaryDeliveryError(reason, parse_retry_after(error.retry_after))
    return PermanentDeliveryError(reason)
