"""Push devices: register (idempotently), remove, and drop those the provider reports gone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meetbook.errors import BadRequest, NotFound
from meetbook.models import Device
from meetbook.notifications.schemas import PushSubscription
from meetbook.outbound import OutboundRefused, resolve_public_url


async def check_push_endpoint(endpoint: str, *, allow_private: bool, field: str) -> None:
    """400 naming `field` unless the endpoint's host resolves to public addresses only.

    The schema has already checked what the URL says; this asks DNS. The worker checks
    again before every send, since the answer may change.
    """
    try:
        await resolve_public_url(endpoint, allow_private=allow_private)
    except OutboundRefused as error:
        message = f"is not allowed because {error.reason}"
        raise BadRequest(
            f"Invalid value for {field}: {message}.",
            details=[{"field": field, "message": message}],
        ) from None


async def register_device(
    session: AsyncSession,
    user_id: int,
    *,
    platform: str,
    token: str,
    subscription: dict[str, Any] | None = None,
) -> Device:
    """The device for (platform, token), created or taken over by `user_id`.

    Registering the same token again returns the same device; a token that moved to
    another account (a shared phone, a new sign-in) now notifies that account only.
    """
    query = select(Device).where(Device.platform == platform, Device.token == token)
    device = await session.scalar(query)
    if device is None:
        device = Device(user_id=user_id, platform=platform, token=token, subscription=subscription)
        try:
            async with session.begin_nested():
                session.add(device)
        except IntegrityError:  # registered concurrently: use that row
            device = (
                await session.scalars(query, execution_options={"populate_existing": True})
            ).one()
    device.user_id = user_id
    device.subscription = subscription
    await session.flush()
    return device


async def register_web_push(
    session: AsyncSession,
    user_id: int,
    subscription: PushSubscription,
    *,
    allow_private: bool,
    field: str,
) -> Device:
    """A browser's validated Web Push subscription (the API's devices and /settings alike).

    400 naming `field` unless the endpoint is a target users may make the server call.
    """
    await check_push_endpoint(subscription.endpoint, allow_private=allow_private, field=field)
    return await register_device(
        session,
        user_id,
        platform="webpush",
        token=subscription.endpoint,
        subscription={
            "endpoint": subscription.endpoint,
            "keys": {"p256dh": subscription.keys.p256dh, "auth": subscription.keys.auth},
        },
    )


async def remove_device(session: AsyncSession, device_id: int, user_id: int) -> None:
    result = await session.execute(
        delete(Device).where(Device.id == device_id, Device.user_id == user_id)
    )
    if not getattr(result, "rowcount", 0):
        raise NotFound(f"Device {device_id} was not found.")
