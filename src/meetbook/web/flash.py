"""One-time messages carried across a POST-redirect-GET in a signed, short-lived cookie."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from fastapi import Request, Response

from meetbook.web.session import clear_cookie, set_cookie, web_keys

FLASH_COOKIE = "meetbook_flash"
FLASH_MAX_AGE = 120

Kind = Literal["success", "error", "info"]


@dataclass(frozen=True)
class Flash:
    kind: Kind
    text: str
    # An optional follow-up link ("See it in Upcoming").
    href: str | None = None
    link_text: str | None = None


def add_flash(request: Request, response: Response, *messages: Flash) -> None:
    payload = [asdict(message) for message in messages]
    value = web_keys(request).flash.dumps(payload)
    set_cookie(request, response, FLASH_COOKIE, value, FLASH_MAX_AGE)


def take_flashes(request: Request) -> list[Flash]:
    """The messages waiting for this request (the caller clears the cookie)."""
    keys = web_keys(request)
    raw = keys.load(keys.flash, request.cookies.get(FLASH_COOKIE), FLASH_MAX_AGE)
    if not isinstance(raw, list):
        return []
    messages = []
    for item in raw:
        if isinstance(item, dict) and item.get("kind") in ("success", "error", "info"):
            try:
                messages.append(Flash(**item))
            except TypeError:
                continue
    return messages


def clear_flashes(request: Request, response: Response) -> None:
    if FLASH_COOKIE in request.cookies:
        clear_cookie(request, response, FLASH_COOKIE)
