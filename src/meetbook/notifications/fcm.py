"""Push notifications through Firebase Cloud Messaging (HTTP v1 API)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import httpx
from google.oauth2 import service_account

from meetbook.notifications.errors import (
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
    parse_retry_after,
)

log = logging.getLogger("meetbook.notifications")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_ENDPOINT = "https://fcm.googleapis.com"
_REQUIRED_KEYS = ("project_id", "client_email", "private_key", "token_uri")
# FCM's own error codes (details[].errorCode) and google.rpc statuses meaning "token is dead".
_GONE_CODES = {"UNREGISTERED", "NOT_FOUND"}
# How long FCM keeps a message for an offline Android device: a meeting notice older than a
# day is stale (APNs gets the same through apns-expiration).
DEFAULT_TTL_SECONDS = 24 * 3600
# Only codes of this shape are repeated to users; anything else in an answer stays in the log.
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")


class _TokenRequest:
    """google-auth's requests transport with a bounded timeout (its default is 120 s)."""

    def __init__(self, timeout: float) -> None:
        self._request = google.auth.transport.requests.Request()
        self._timeout = timeout

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout
        return self._request(url, method, **kwargs)


class FcmClient:
    """Sends FCM messages with a service account's OAuth token, cached until near expiry."""

    def __init__(
        self,
        credentials_path: str | Path,
        http: httpx.AsyncClient,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = 10.0,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        """Read the service-account JSON; ValueError if it lacks a required key."""
        info = json.loads(Path(credentials_path).read_text(encoding="utf-8"))
        missing = [key for key in _REQUIRED_KEYS if not info.get(key)]
        if missing:
            raise ValueError(f"service-account JSON lacks {', '.join(missing)}")
        self.project_id: str = info["project_id"]
        # google-auth's classmethod is unannotated.
        self._credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info,
            scopes=[SCOPE],
            # google-auth always signs the assertion for Google's token URL; the audience must be
            # the token_uri actually used (identical for real Google credentials).
            additional_claims={"aud": info["token_uri"]},
        )
        self._token_request = _TokenRequest(timeout)
        self._token_lock = asyncio.Lock()
        self._http = http
        self._timeout = timeout
        self.ttl_seconds = ttl_seconds
        self._send_url = f"{endpoint.rstrip('/')}/v1/projects/{self.project_id}/messages:send"

    async def send(
        self,
        token: str,
        title: str,
        body: str,
        data: dict[str, str],
        *,
        collapse_key: str | None = None,
    ) -> None:
        """Send one notification to one device token, or raise a classified delivery error.

        Messages with the same `collapse_key` (one per meeting) replace each other while
        the device is offline, so it wakes to the latest news, not to a backlog.
        """
        android: dict[str, Any] = {"priority": "high", "ttl": f"{self.ttl_seconds}s"}
        apns_headers = {
            "apns-priority": "10",
            "apns-expiration": str(int(time.time()) + self.ttl_seconds),
        }
        if collapse_key:
            android["collapse_key"] = collapse_key
            apns_headers["apns-collapse-id"] = collapse_key
        message = {
            "message": {
                "token": token,
                "notification": {"title": title, "body": body},
                "data": data,
                "android": android,
                "apns": {"headers": apns_headers},
            }
        }
        access_token = await self._access_token()
        response = await self._post(message, access_token)
        if response.status_code == 401 and "THIRD_PARTY_AUTH_ERROR" not in _error_codes(response):
            # Our token may have been revoked before its expiry: refresh once and retry.
            access_token = await self._access_token(stale=access_token)
            response = await self._post(message, access_token)
        _raise_for_status(response)

    async def _post(self, message: dict[str, Any], access_token: str) -> httpx.Response:
        try:
            return await self._http.post(
                self._send_url,
                json=message,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=self._timeout,
            )
        except httpx.TransportError as error:
            log.warning("notification.fcm.unreachable", extra={"error": repr(error)[:300]})
            raise TemporaryDeliveryError(f"FCM unreachable ({type(error).__name__})") from error

    async def _access_token(self, *, stale: str | None = None) -> str:
        """The cached token, refreshed when expiring or when it equals `stale` (rejected)."""
        async with self._token_lock:
            credentials = self._credentials
            if not credentials.valid or credentials.token == stale:
                # refresh() is blocking; calling it directly (not before_request) also keeps
                # google-auth from making any request other than the one to token_uri.
                try:
                    await asyncio.to_thread(credentials.refresh, self._token_request)
                except google.auth.exceptions.TransportError as error:
                    log.warning("notification.fcm.token_unreachable", extra={"error": str(error)})
                    raise TemporaryDeliveryError(
                        "the FCM token endpoint could not be reached"
                    ) from error
                except google.auth.exceptions.RefreshError as error:
                    # The error carries the token endpoint's answer: for the log only.
                    log.warning("notification.fcm.token_refused", extra={"error": str(error)})
                    if getattr(error, "retryable", False):
                        raise TemporaryDeliveryError(
                            "the FCM token endpoint failed; will retry"
                        ) from error
                    raise PermanentDeliveryError(
                        "the FCM token endpoint refused the service account"
                    ) from error
            token: str = credentials.token
            return token


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _error_codes(response: httpx.Response) -> set[str]:
    """The google.rpc status and FCM errorCodes of an error answer."""
    error = _error(response)
    codes = {error.get("status")}
    codes.update(d.get("errorCode") for d in _details(error))
    return {code for code in codes if isinstance(code, str)}


def _bad_token(response: httpx.Response) -> bool:
    """An INVALID_ARGUMENT that blames the registration token (a google.rpc.BadRequest
    field violation on `message.token`), not another part of the message."""
    for detail in _details(_error(response)):
        violations = detail.get("fieldViolations")
        if isinstance(violations, list) and any(
            isinstance(v, dict) and v.get("field") == "message.token" for v in violations
        ):
            return True
    return False


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 300:
        return
    codes = _error_codes(response)
    # FCM's answer is not shown to users (the notification list is readable by both
    # participants): the status and FCM's error codes are; the log keeps the body.
    log.warning("notification.fcm.refused", extra={"status": status, "answer": response.text[:500]})
    shown = sorted(code for code in codes if _ERROR_CODE.fullmatch(code))
    reason = f"HTTP {status} from FCM" + (f" ({'/'.join(shown)})" if shown else "")
    if status == 404 or codes & _GONE_CODES:
        raise RecipientGone(reason)
    if "INVALID_ARGUMENT" in codes and _bad_token(response):
        raise RecipientGone(reason)
    if status == 429 or status >= 500:
        raise TemporaryDeliveryError(reason, parse_retry_after(response.headers.get("Retry-After")))
    raise PermanentDeliveryError(reason)
