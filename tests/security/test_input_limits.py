"""Hostile input: sizes, lengths, control characters and odd numbers get 400/413 envelopes.

Every case here once had (or could plausibly have) a path to a 500 or to the database's
own error (a 503 saying the database is down, which would be a lie): a NUL byte that
PostgreSQL refuses to store, an integer wider than a BIGINT, a digit that is not ASCII.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.conftest import Person, World, create_meeting, future
from tests.test_errors import assert_envelope

NUL = "\x00"


@pytest.fixture
async def pair(world: World) -> tuple[Person, Person, int]:
    requester = await world.person("Ana")
    recipient = await world.person("Ben")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(client: httpx.AsyncClient, clock: Any, pair: tuple[Person, Person, int]) -> int:
    requester, recipient, team_id = pair
    response = await create_meeting(client, requester, recipient, team_id, future(clock))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


# --- request body size -------------------------------------------------------------------


async def test_body_just_under_the_limit_is_read(client, pair) -> None:
    requester, _, _ = pair
    body = json.dumps({"date": "x" * (60 * 1024)}).encode()
    response = await client.post(
        "/api/v3/meeting/create",
        content=body,
        headers={**requester.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 400)  # read and refused for its content, not its size


@pytest.mark.parametrize(
    "path", ["/api/v3/meeting/create", "/api/v3/auth/token", "/api/v3/devices", "/api/v3/me"]
)
async def test_body_over_64_kib_is_413_everywhere(client, pair, path) -> None:
    requester, _, _ = pair
    method = "PATCH" if path == "/api/v3/me" else "POST"
    response = await client.request(
        method,
        path,
        content=b'{"x": "' + b"y" * (65 * 1024) + b'"}',
        headers={**requester.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413)


async def test_non_numeric_content_length_is_400(client, pair) -> None:
    requester, _, _ = pair
    response = await client.post(
        "/api/v3/meeting/create",
        content=b"{}",
        headers={**requester.auth, "Content-Type": "application/json", "Content-Length": "abc"},
    )
    assert_envelope(response, 400)


# --- field lengths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("date", "2030-01-01 10:00:00" + " " * 100),
        ("link", "https://example.com/" + "a" * 2048),
        ("user_id", "9" * 19),
        ("user_id", 2**63),
        ("team_id", -1),
        ("user_id", 1e400),  # json.dumps writes Infinity
    ],
)
async def test_create_field_limits_are_400(client, clock, pair, field, value) -> None:
    requester, recipient, team_id = pair
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock), field: value}
    response = await client.post(
        "/api/v3/meeting/create",
        content=json.dumps(body).encode(),
        headers={**requester.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize(
    "date",
    [
        "9999-12-31T23:59:59",
        "9999-12-31T23:30:00-14:00",  # past year 9999 once in UTC
        "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
        "99999-01-01T00:00:00",
        "2030-02-30 10:00:00",
        "2030-01-01 10:00:00\x00",
        "2030-01-01 ٢:٠٠",  # Arabic-Indic digits
    ],
)
async def test_extreme_dates_are_400_or_accepted_never_500(client, pair, date) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(client, requester, recipient, team_id, date)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert_envelope(response, 400)


async def test_reason_over_500_chars_is_400(client, clock, pair) -> None:
    requester, recipient, _ = pair
    meeting_id = await _meeting(client, clock, pair)
    response = await client.post(
        f"/api/v3/meeting/{meeting_id}/reject", json={"reason": "r" * 501}, headers=recipient.auth
    )
    assert "reason" in assert_envelope(response, 400)["message"]
    # ... and nothing changed.
    details = await client.get(f"/api/v3/meeting/{meeting_id}", headers=requester.auth)
    assert details.json()["status"] == "pending"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a" * 255 + "@example.com", "password": "x"},
        {"email": "ana@example.com", "password": "x" * 1025},
        {"email": "ana@example.com", "password": "x", "name": "n" * 101},
        {"email": "", "password": "x"},
        {"email": ["ana@example.com"], "password": "x"},
    ],
)
async def test_token_request_limits_are_400(client, body) -> None:
    assert_envelope(await client.post("/api/v3/auth/token", json=body), 400)


@pytest.mark.parametrize(
    "patch",
    [
        {"name": "n" * 201},
        {"name": ""},
        {"name": "Ana\r\nBcc: victim@example.com"},
        {"timezone": "Europe/" + "x" * 100},
        {"timezone": "../../etc/passwd"},
    ],
)
async def test_profile_limits_are_400(client, pair, patch) -> None:
    requester, _, _ = pair
    assert_envelope(await client.patch("/api/v3/me", json=patch, headers=requester.auth), 400)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Idempotency-Key", "k" * 256),
        ("Idempotency-Key", "caf\u00e9"),
        ("Idempotency-Key", "tab\there"),
    ],
)
async def test_bad_idempotency_key_is_400(client, clock, pair, name, value) -> None:
    requester, recipient, team_id = pair
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock)}
    response = await client.post(
        "/api/v3/meeting/create",
        content=json.dumps(body).encode(),
        headers={
            **requester.auth,
            "Content-Type": "application/json",
            name.encode(): value.encode("latin-1"),
        },
    )
    assert_envelope(response, 400)


# --- query parameters --------------------------------------------------------------------


def _cursor(*items: Any) -> str:
    raw = json.dumps(list(items)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "9" * 30},
        {"team_id": str(2**63)},
        {"status": "pending,nope"},
        {"status": "s" * 201},
        {"role": "admin"},
        {"order": "sideways"},
        {"from": "yesterday"},
        {"from": "²"},  # str.isdigit() says yes, int() says no
        {"to": "1" * 13},
        {"cursor": "!!!"},
        {"cursor": "c" * 201},
        {"cursor": _cursor(10**30, 1, "asc")},  # wider than a BIGINT
        {"cursor": _cursor(1, -(10**30), "asc")},
        {"cursor": _cursor(1.5, 1, "asc")},
        {"cursor": _cursor(1, 1, "desc")},  # another order's cursor
    ],
)
async def test_bad_list_parameters_are_400(client, pair, query) -> None:
    requester, _, _ = pair
    response = await client.get("/api/v3/meeting/list", params=query, headers=requester.auth)
    assert_envelope(response, 400)


@pytest.mark.parametrize(
    "cursor", [_cursor(10**30, 1, "asc"), _cursor(1, 10**30, "asc"), "%%%", "e30"]
)
async def test_bad_pending_cursor_is_400(client, pair, cursor) -> None:
    requester, _, _ = pair
    response = await client.get(
        "/api/v3/meeting/pending", params={"cursor": cursor}, headers=requester.auth
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize("path", ["/api/v3/teams/{id}/members", "/api/v3/meeting/{id}"])
@pytest.mark.parametrize("value", ["0", str(2**63), "-5"])
async def test_out_of_range_path_ids_are_400(client, pair, path, value) -> None:
    requester, _, _ = pair
    response = await client.get(path.format(id=value), headers=requester.auth)
    assert_envelope(response, 400)


async def test_very_long_query_string_is_refused_cleanly(client, pair) -> None:
    requester, _, _ = pair
    response = await client.get(
        "/api/v3/meeting/list", params={"x": "y" * 20_000}, headers=requester.auth
    )
    # Unknown parameters are ignored; the point is that nothing breaks.
    assert response.status_code == 200


# --- characters the database refuses ------------------------------------------------------


async def test_nul_in_reason_is_400_not_a_database_error(client, clock, pair) -> None:
    _, recipient, _ = pair
    meeting_id = await _meeting(client, clock, pair)
    response = await client.post(
        f"/api/v3/meeting/{meeting_id}/reject",
        json={"reason": f"no{NUL}pe"},
        headers=recipient.auth,
    )
    assert_envelope(response, 400)


async def test_nul_in_token_name_is_400(client, world) -> None:
    person = await world.person(password="correct horse")
    body = {"email": person.email, "password": "correct horse", "name": f"lap{NUL}top"}
    assert_envelope(await client.post("/api/v3/auth/token", json=body), 400)


@pytest.mark.parametrize("field", ["email", "password"])
async def test_nul_in_credentials_is_400_or_401(client, world, field) -> None:
    person = await world.person(password="correct horse")
    body = {"email": person.email, "password": "correct horse"}
    body[field] = body[field] + NUL
    response = await client.post("/api/v3/auth/token", json=body)
    assert response.status_code in (400, 401), response.text
    assert_envelope(response, response.status_code)


async def test_nul_in_idempotency_key_is_400(client, clock, pair) -> None:
    requester, recipient, team_id = pair
    response = await create_meeting(
        client, requester, recipient, team_id, future(clock)
    )  # a valid one first: the key table exists and works
    assert response.status_code == 201
    body = {"user_id": recipient.id, "team_id": team_id, "date": future(clock, days=8)}
    response = await client.post(
        "/api/v3/meeting/create",
        content=json.dumps(body).encode(),
        headers={
            **requester.auth,
            "Content-Type": "application/json",
            b"Idempotency-Key": b"key\x00",
        },
    )
    assert_envelope(response, 400)


async def test_nul_in_fcm_token_is_400(client, pair) -> None:
    requester, _, _ = pair
    response = await client.post(
        "/api/v3/devices", json={"platform": "fcm", "token": f"abc{NUL}"}, headers=requester.auth
    )
    assert_envelope(response, 400)


async def test_lone_surrogate_in_json_is_400_not_500(client, clock, pair) -> None:
    _, recipient, _ = pair
    meeting_id = await _meeting(client, clock, pair)
    response = await client.post(
        f"/api/v3/meeting/{meeting_id}/reject",
        content=b'{"reason": "\\ud800"}',
        headers={**recipient.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 400)
