"""Reading JSON request bodies with the contract's errors instead of the framework's."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from meetbook.errors import BadRequest, UnsupportedMediaType

MAX_BODY_BYTES = 64 * 1024

M = TypeVar("M", bound=BaseModel)


def _is_json_content_type(value: str) -> bool:
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def read_json_object(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; `optional` bodies may be empty (read as `{}`)."""
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if not _is_json_content_type(content_type):
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("The request body must be a JSON object.") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def validate_body(
    model: type[M], data: dict[str, Any], *, context: dict[str, Any] | None = None
) -> M:
    """Validate with a Pydantic model, answering 400 with one detail per bad field.

    `context` reaches the model's validators (e.g. whether private targets are allowed).
    """
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        details = []
        for item in error.errors(include_url=False):
            field = ".".join(str(part) for part in item["loc"]) or "body"
            message = item["msg"].removeprefix("Value error, ")
            details.append({"field": field, "message": message})
        fields = ", ".join(dict.fromkeys(d["field"] for d in details))
        first = details[0]["message"] if details else "is invalid"
        raise BadRequest(f"Invalid value for {fields}: {first}.", details=details) from None


def json_body_schema(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route reads itself."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }
