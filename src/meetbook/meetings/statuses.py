"""The statuses a meeting can have; the rules that move between them are in `machine.py`."""

from __future__ import annotations

from typing import Literal

Status = Literal["pending", "confirmed", "rejected", "cancelled", "expired", "completed"]
# In the order the machine moves: a status only ever changes to one further right.
STATUSES: tuple[Status, ...] = (
    "pending",
    "confirmed",
    "rejected",
    "cancelled",
    "expired",
    "completed",
)
