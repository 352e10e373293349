"""Security headers on every kind of answer: API and HTML, success and every error path."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from meetbook.app import create_app
from tests.conftest import settings_for


def assert_secure(response: httpx.Response, *, docs: bool = False) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ") if part}
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("default-src") == ["'self'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert directives.get("base-uri") == ["'none'"], csp
    assert "'unsafe-inline'" not in directives.get("script-src", []), csp
    assert "'unsafe-eval'" not in directives.get("script-src", []), csp
    if not docs:
        assert "'unsafe-inline'" not in directives.get("style-src", []), csp
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer", "strict-origin")
    assert headers.get("x-frame-options") == "DENY"


@pytest.fixture
async def person(world):
    return await world.person()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v3/me", 200),
        ("GET", "/api/v3/meeting/list", 200),
        ("GET", "/api/v3/meeting/424242", 404),
        ("PUT", "/api/v3/me", 405),
        ("GET", "/api/v3/no-such-route", 404),
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_api_answers_carry_the_headers(client, person, method, path, status) -> None:
    response = await client.request(method, path, headers=person.auth)
    assert response.status_code == status
    assert_secure(response)


async def test_401_carries_the_headers(client) -> None:
    response = await client.get("/api/v3/me")
    assert response.status_code == 401
    assert_secure(response)


async def test_400_415_and_413_carry_the_headers(client, person) -> None:
    bad = await client.post(
        "/api/v3/meeting/create",
        content=b"{",
        headers={**person.auth, "Content-Type": "application/json"},
    )
    form = await client.post(
        "/api/v3/meeting/create",
        content=b"a=b",
        headers={**person.auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    large = await client.post(
        "/api/v3/meeting/create",
        content=b"x" * (70 * 1024),
        headers={**person.auth, "Content-Type": "application/json"},
    )
    assert (bad.status_code, form.status_code, large.status_code) == (400, 415, 413)
    for response in (bad, form, large):
        assert_secure(response)


async def test_429_carries_the_headers(database_url, tmp_path: Path) -> None:
    app = create_app(settings_for(database_url, tmp_path, rate_limit_token_address="1/minute"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = {"email": "x@example.com", "password": "x"}
            await http.post("/api/v3/auth/token", json=body)
            response = await http.post("/api/v3/auth/token", json=body)
    assert response.status_code == 429
    assert_secure(response)


async def test_500_carries_the_headers(app, client) -> None:
    # Starlette answers an unhandled error from outside the app's own middleware.
    @app.get("/api/v3/boom-for-security-test")
    async def boom() -> None:
        raise RuntimeError("boom")

    response = await client.get("/api/v3/boom-for-security-test")
    assert response.status_code == 500
    assert_secure(response)


@pytest.mark.parametrize(("path", "status"), [("/login", 200), ("/no-such-page", 404)])
async def test_html_pages_carry_the_headers(client, path, status) -> None:
    response = await client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert_secure(response)


async def test_the_docs_page_keeps_frame_ancestors_and_scripts_strict(client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert_secure(response, docs=True)


async def test_json_is_never_served_as_html(client, person) -> None:
    # A name with markup comes back as JSON, which nosniff keeps from being sniffed as HTML.
    await client.patch("/api/v3/me", json={"name": "<script>x</script>"}, headers=person.auth)
    response = await client.get("/api/v3/me", headers=person.auth)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
