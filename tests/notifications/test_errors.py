"""Retry-After parsing shared by the push providers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meetbook.notifications.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RecipientGone,
    TemporaryDeliveryError,
    parse_retry_after,
)

NOW = datetime(2025, 12, 15, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Mon, 15 Dec 2025 14:01:30 GMT", 90.0),
        ("Mon, 15 Dec 2025 13:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_error_hierarchy() -> None:
    gone = RecipientGone("410 Gone")

    assert isinstance(gone, PermanentDeliveryError)
    assert isinstance(gone, DeliveryError)
    assert gone.reason == "410 Gone"
    assert TemporaryDeliveryError("busy", 3.0).retry_after == 3.0
    assert TemporaryDeliveryError("busy").retry_after is None
