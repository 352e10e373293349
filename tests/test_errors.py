"""The error envelope on every non-2xx answer, whatever produced it."""

from __future__ import annotations

import pytest
import tzdata

from tests.conftest import World


def assert_envelope(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert "detail" not in body and "Traceback" not in response.text
    assert set(body) <= {"error", "message", "details"}
    return body


@pytest.fixture
async def person(world: World):
    return await world.person()


async def test_unknown_path_is_404(client) -> None:
    assert_envelope(await client.get("/no/such/page"), 404)
    assert_envelope(await client.get("/api/v3/nothing"), 404)


async def test_wrong_method_is_405(client, person) -> None:
    assert_envelope(await client.put("/api/v3/meeting/create", headers=person.auth), 405)


async def test_wrong_content_type_is_415(client, person) -> None:
    response = await client.post(
        "/api/v3/meeting/create",
        content=b"user_id=1",
        headers={**person.auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_envelope(response, 415)


async def test_malformed_json_is_400(client, person) -> None:
    response = await client.post(
        "/api/v3/meeting/create",
        content=b'{"user_id": 1,',
        headers={**person.auth, "Content-Type": "application/json"},
    )
    assert "JSON" in assert_envelope(response, 400)["message"]


async def test_deeply_nested_json_is_400(client, person) -> None:
    response = await client.post(
        "/api/v3/meeting/create",
        content=b"[" * 50_000 + b"]" * 10_000,
        headers={**person.auth, "Content-Type": "application/json"},
    )
    assert response.status_code in (400, 413)
    assert_envelope(response, response.status_code)


async def test_body_over_64_kib_is_413(client, person) -> None:
    body = b'{"date": "' + b"x" * (65 * 1024) + b'"}'
    response = await client.post(
        "/api/v3/meeting/create",
        content=body,
        headers={**person.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413)


async def test_streamed_body_over_64_kib_is_413(client, person) -> None:
    async def chunks():
        for _ in range(20):
            yield b"x" * 8192

    response = await client.post(
        "/api/v3/meeting/create",
        content=chunks(),
        headers={**person.auth, "Content-Type": "application/json"},
    )
    assert_envelope(response, 413)


async def test_unexpected_error_is_500_envelope(app, client, person) -> None:
    @app.get("/api/v3/boom-for-test")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    response = await client.get("/api/v3/boom-for-test")
    body = assert_envelope(response, 500)
    assert "secret internals" not in response.text
    assert "went wrong" in body["message"]


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 5000]
)
async def test_bad_tokens_are_401_with_challenge(client, header) -> None:
    response = await client.get("/api/v3/me", headers={"Authorization": header} if header else {})
    assert_envelope(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_huge_path_id_is_400_not_500(client, person) -> None:
    assert_envelope(
        await client.get("/api/v3/meeting/99999999999999999999", headers=person.auth), 400
    )
    assert_envelope(await client.get("/api/v3/meeting/-1", headers=person.auth), 400)


async def test_security_headers_present(client) -> None:
    response = await client.get("/healthz")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]


async def test_openapi_and_docs_are_served(client) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v3/meeting/create" in schema["paths"]
    assert "Error" in schema["components"]["schemas"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in docs.text
    assert "<script>" not in docs.text  # no inline script: the strict CSP holds on /docs too
    bundle = await client.get("/docs-assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert bundle.headers["content-type"].startswith("text/javascript")
    css = await client.get("/docs-assets/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/docs-assets/__init__.py",
        "/docs-assets/LICENSE",
        "/docs-assets/__pycache__/__init__.cpython-311.pyc",
        "/docs-assets/..%2F__init__.py",
        "/docs-assets/",
    ],
)
async def test_docs_assets_serve_only_the_assets(client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == 404


async def test_readyz_and_healthz(client) -> None:
    # The IANA release of the packaged tzdata every zone is read from (meetbook/zones.py).
    assert (await client.get("/healthz")).json() == {"status": "ok", "tzdata": tzdata.IANA_VERSION}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
