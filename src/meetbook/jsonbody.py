"""Validating data that FastAPI did not read itself (web forms) with the contract's errors.

JSON request bodies are declared to FastAPI as Pydantic models; its validation errors
become the contract's messages in `errors.invalid_input`, the same translation used here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from meetbook.errors import invalid_input

M = TypeVar("M", bound=BaseModel)


def validate_body(model: type[M], data: dict[str, Any]) -> M:
    """Validate with a Pydantic model, answering 400 with one detail per bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        # Located as FastAPI locates a body's fields, so the messages are the API's own.
        raise invalid_input(
            {**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False)
        ) from None
