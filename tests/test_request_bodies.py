"""JSON bodies are Pydantic models declared to FastAPI: documented by it, answered by us.

FastAPI reads and validates each body; errors.invalid_input turns its validation errors
into the contract's envelope and messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meetbook.app import create_app
from tests.conftest import Person, World, create_meeting, future, settings_for
from tests.test_errors import assert_envelope


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(settings_for("sqlite+aiosqlite:///:memory:", Path("."))).openapi()


def _body_schema(openapi: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = openapi["paths"][path][method]["requestBody"]
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def _component(openapi: dict[str, Any], ref: str) -> dict[str, Any]:
    component: dict[str, Any] = openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return component


@pytest.mark.parametrize(
    ("path", "method", "model", "fields"),
    [
        (
            "/api/v3/meeting/create",
            "post",
            "MeetingCreate",
            {"user_id", "team_id", "date", "link", "title", "notes"},
        ),
        (
            "/api/v3/me",
            "patch",
            "ProfilePatch",
            {"name", "timezone", "locale", "reminder_minutes"},
        ),
        (
            "/api/v3/auth/token",
            "post",
            "TokenRequest",
            {"email", "password", "name", "expires_in_days"},
        ),
    ],
)
def test_bodies_are_documented_from_their_models(
    openapi: dict[str, Any], path: str, method: str, model: str, fields: set[str]
) -> None:
    schema = _body_schema(openapi, path, method)
    assert schema == {"$ref": f"#/components/schemas/{model}"}
    assert set(_component(openapi, schema["$ref"])["properties"]) == fields
    assert openapi["paths"][path][method]["requestBody"]["required"] is True


def test_the_create_body_lists_its_required_fields(openapi: dict[str, Any]) -> None:
    model = _component(openapi, "#/components/schemas/MeetingCreate")
    assert set(model["required"]) == {"user_id", "team_id", "date"}


def test_the_device_body_is_a_union_tagged_by_platform(openapi: dict[str, Any]) -> None:
    schema = _body_schema(openapi, "/api/v3/devices", "post")
    device = _component(openapi, schema["$ref"])
    assert device["discriminator"]["propertyName"] == "platform"
    refs = {item["$ref"] for item in device["oneOf"]}
    assert refs == {"#/components/schemas/FcmDevice", "#/components/schemas/WebPushDevice"}
    # Every reference resolves inside the document (no Pydantic-local "#/$defs/...").
    assert "#/$defs/" not in str(openapi)
    for ref in refs | set(device["discriminator"]["mapping"].values()):
        assert _component(openapi, ref)["type"] == "object"


def test_reason_bodies_are_optional(openapi: dict[str, Any]) -> None:
    for action in ("reject", "cancel"):
        body = openapi["paths"][f"/api/v3/meeting/{{meeting_id}}/{action}"]["post"]["requestBody"]
        assert not body.get("required")
        refs = str(body["content"]["application/json"]["schema"])
        assert "#/components/schemas/ReasonBody" in refs


def test_no_framework_validation_shapes_are_documented(openapi: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    create = openapi["paths"]["/api/v3/meeting/create"]["post"]["responses"]
    assert create["422"]["description"].startswith("Idempotency")


@pytest.fixture
async def pair(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Ana")
    recipient = await world.person("Ben")
    return requester, recipient, await world.team(requester, recipient)


async def test_wrong_types_list_every_bad_field(client, pair, clock) -> None:
    requester, _, _ = pair
    body = {"user_id": "abc", "team_id": 1.5, "date": future(clock)}
    response = await client.post("/api/v3/meeting/create", json=body, headers=requester.auth)
    error = assert_envelope(response, 400)
    assert error["message"] == "Invalid value for user_id, team_id: must be a whole number."
    assert [d["field"] for d in error["details"]] == ["user_id", "team_id"]


@pytest.mark.parametrize("action", ["reject", "cancel"])
async def test_reason_bodies_may_be_empty_or_null(client, pair, clock, action) -> None:
    requester, recipient, team_id = pair
    actor = recipient if action == "reject" else requester
    for content in (b"", b"null"):
        created = await create_meeting(client, requester, recipient, team_id, future(clock))
        meeting_id = created.json()["id"]
        response = await client.post(
            f"/api/v3/meeting/{meeting_id}/{action}",
            content=content,
            headers={**actor.auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["reason"] is None


async def test_a_reason_body_that_is_not_json_is_415_and_not_an_object_is_400(
    client, pair, clock
) -> None:
    requester, recipient, team_id = pair
    created = await create_meeting(client, requester, recipient, team_id, future(clock))
    url = f"/api/v3/meeting/{created.json()['id']}/reject"
    text = await client.post(
        url, content=b"reason=no", headers={**recipient.auth, "Content-Type": "text/plain"}
    )
    assert "JSON" in assert_envelope(text, 415)["message"]
    array = await client.post(url, json=["no"], headers=recipient.auth)
    assert assert_envelope(array, 400)["message"] == "The request body must be a JSON object."
    bad = await client.post(url, json={"reason": 5}, headers=recipient.auth)
    assert assert_envelope(bad, 400)["details"] == [
        {"field": "reason", "message": "must be a string"}
    ]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"", "application/json", 400),  # a body is required
        (b"\xff\xfe{}", "application/json", 400),  # not UTF-8
        (b'{"name": "x"}', "", 415),  # no Content-Type at all
        (b'{"name": "x"}', "application/merge-patch+json", 200),
    ],
)
async def test_patch_me_body_edges(client, pair, content, content_type, status) -> None:
    requester, _, _ = pair
    headers = {**requester.auth, "Content-Type": content_type} if content_type else requester.auth
    response = await client.patch("/api/v3/me", content=content, headers=headers)
    if status == 200:
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "x"
    else:
        assert_envelope(response, status)


async def test_a_streamed_body_over_the_limit_is_still_413_on_a_declared_body(client, pair) -> None:
    requester, _, _ = pair

    async def chunks():
        yield b'{"name": "'
        for _ in range(10):
            yield b"n" * 8192
        yield b'"}'

    response = await client.patch(
        "/api/v3/me",
        content=chunks(),
        headers={**requester.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413)
