"""Typed path and query parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Ids are positive and fit a 64-bit column; anything else is a 400, never a database error.
IdPath = Annotated[int, Path(ge=1, lt=2**63, description="A positive id.")]
