"""Request and response shapes of the device, push and notification routes."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from meetbook.outbound import OutboundRefused, check_public_url

# The devices.token column holds the FCM token or the Web Push endpoint and is 2048
# characters wide; real FCM tokens are about 160 characters.
MAX_FCM_TOKEN_LENGTH = 2048
MAX_ENDPOINT_LENGTH = 2048
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")


def _b64url_bytes(value: str, *, max_length: int) -> bytes:
    if len(value) > max_length or not _BASE64URL.fullmatch(value):
        raise ValueError("must be base64url text")
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (ValueError, binascii.Error):
        raise ValueError("must be base64url text") from None


class FcmDevice(BaseModel):
    """An Android/iOS app's Firebase Cloud Messaging registration token."""

    model_config = ConfigDict(extra="forbid", strict=True)

    platform: Literal["fcm"]
    token: str = Field(min_length=1, max_length=MAX_FCM_TOKEN_LENGTH)

    @field_validator("token")
    @classmethod
    def _visible_ascii(cls, value: str) -> str:
        if not _VISIBLE_ASCII.fullmatch(value):
            raise ValueError("must be printable ASCII without spaces")
        return value


class PushKeys(BaseModel):
    # Browsers may add fields in later versions; only these two are used.
    model_config = ConfigDict(extra="ignore", strict=True)

    p256dh: str = Field(description="The browser's P-256 public key, base64url (65 bytes).")
    auth: str = Field(description="The 16-byte authentication secret, base64url.")

    @field_validator("p256dh")
    @classmethod
    def _p256_point(cls, value: str) -> str:
        point = _b64url_bytes(value, max_length=90)
        if len(point) != 65 or point[0] != 0x04:
            raise ValueError("must be an uncompressed P-256 public key (65 bytes starting 0x04)")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            raise ValueError("is not a point on the P-256 curve") from None
        return value

    @field_validator("auth")
    @classmethod
    def _sixteen_bytes(cls, value: str) -> str:
        if len(_b64url_bytes(value, max_length=24)) != 16:
            raise ValueError("must be a 16-byte secret")
        return value


class PushSubscription(BaseModel):
    """What `PushSubscription.toJSON()` gives in the browser (`expirationTime` is ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    endpoint: str = Field(max_length=MAX_ENDPOINT_LENGTH, examples=["https://push.example/abc"])
    keys: PushKeys

    @field_validator("endpoint")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        """An absolute http(s) URL with a host. Whether its target is allowed (https to a
        public address unless MEETBOOK_ALLOW_PRIVATE_TARGETS) is the registration's check,
        `devices.register_web_push`, which knows the setting and resolves the name."""
        if not _VISIBLE_ASCII.fullmatch(value):
            raise ValueError("must be an absolute https URL")
        try:
            check_public_url(value, allow_private=True)
        except OutboundRefused as error:
            raise ValueError(f"is not allowed because {error.reason}") from None
        return value


class WebPushDevice(BaseModel):
    """A browser's Web Push subscription."""

    model_config = ConfigDict(extra="forbid", strict=True)

    platform: Literal["webpush"]
    subscription: PushSubscription


DEVICE_MODELS: dict[str, type[FcmDevice] | type[WebPushDevice]] = {
    "fcm": FcmDevice,
    "webpush": WebPushDevice,
}


class DeviceRegistration(RootModel[FcmDevice | WebPushDevice]):
    """The body of `POST /api/v3/devices`: one device of either platform."""

    root: Annotated[FcmDevice | WebPushDevice, Field(discriminator="platform")]

    @model_validator(mode="wrap")
    @classmethod
    def _by_platform(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Picking the model by `platform` first keeps error fields plain ("token", where
        # the tagged union would say "fcm.token") and names `platform` when it is wrong.
        if not isinstance(data, dict):
            return handler(data)  # Pydantic's "not an object"
        platform = data.get("platform")
        model = DEVICE_MODELS.get(platform) if isinstance(platform, str) else None
        if model is None:
            error = PydanticCustomError("platform", "must be fcm or webpush")
            detail = InitErrorDetails(type=error, loc=("platform",), input=platform)
            raise ValidationError.from_exception_data(cls.__name__, [detail])
        return cls(model.model_validate(data))


class DeviceOut(BaseModel):
    id: int


class VapidPublicKey(BaseModel):
    public_key: str = Field(
        description="The VAPID application server key (base64url P-256 point) for "
        "PushManager.subscribe()."
    )


class NotificationOut(BaseModel):
    id: int
    event: str = Field(examples=["meeting-created"])
    user_id: int = Field(description="Who the notification goes to.")
    channel: str = Field(description="email, fcm or webpush.")
    status: str = Field(description="pending, sent, failed or cancelled.")
    attempts: int
    last_error: str | None
    sent_at: str | None = Field(description="ISO 8601 UTC, or null until delivered.")
    created_at: str = Field(examples=["2025-12-10T10:30:00Z"])


class NotificationList(BaseModel):
    data: list[NotificationOut]
