"""Signing in and out: the session cookie, `next`, CSRF on the login form, throttling."""

from __future__ import annotations

import httpx
import pytest

from meetbook.app import create_app
from meetbook.migrate import upgrade_async
from meetbook.web.session import safe_next

from .conftest import PASSWORD, World, csrf_of, sign_in, sqlite_settings


async def test_a_signed_out_visit_goes_to_login_and_back(
    client: httpx.AsyncClient, world: World
) -> None:
    ben = await world.person("Ben Carter", "America/New_York")
    response = await client.get("/meetings?tab=pending-meeting")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fmeetings%3Ftab%3Dpending-meeting"

    login = await client.get(response.headers["location"])
    assert 'name="next" value="/meetings?tab=pending-meeting"' in login.text
    posted = await client.post(
        "/login",
        data={
            "email": ben.email.upper(),
            "password": PASSWORD,
            "csrf_token": csrf_of(login.text),
            "next": "/meetings?tab=pending-meeting",
        },
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/meetings?tab=pending-meeting"
    page = await client.get(posted.headers["location"])
    assert page.status_code == 200
    assert "Requests waiting for your answer" in page.text


async def test_the_session_cookie_is_httponly_and_samesite_lax(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    login = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": ana.email, "password": PASSWORD, "csrf_token": csrf_of(login.text)},
    )
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith("meetbook_session=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # the base URL is http


async def test_the_session_cookie_is_secure_when_the_base_url_is_https(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = sqlite_settings(
        tmp_path_factory.mktemp("https"), base_url="https://meet.example.test"
    )
    await upgrade_async(settings.database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        person = await World(app).person()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://meet.example.test"
        ) as http:
            login = await http.get("/login")
            assert "secure" in login.headers["set-cookie"].lower()
            response = await http.post(
                "/login",
                data={
                    "email": person.email,
                    "password": PASSWORD,
                    "csrf_token": csrf_of(login.text),
                },
            )
    cookies = [v.lower() for k, v in response.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in cookies if c.startswith("meetbook_session="))
    assert "; secure" in session_cookie


async def test_a_wrong_password_keeps_the_email_and_says_so(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    login = await client.get("/login")
    response = await client.post(
        "/login",
        data={"email": ana.email, "password": "nope", "csrf_token": csrf_of(login.text)},
    )
    assert response.status_code == 400
    assert "The email or password is wrong." in response.text
    assert f'value="{ana.email}"' in response.text
    assert "meetbook_session" not in response.headers.get("set-cookie", "")


async def test_the_login_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    await client.get("/login")  # has the pre-session cookie, but posts no token
    response = await client.post("/login", data={"email": ana.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "meetbook_session=" not in response.headers.get("set-cookie", "")


async def test_a_login_posted_from_elsewhere_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    login = await client.get("/login")
    token = csrf_of(login.text)
    client.cookies.clear()  # another browser: the token does not match its (absent) cookie
    response = await client.post(
        "/login", data={"email": ana.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aSet-Cookie:x=1",
        "/ space",
        "\\\\evil.example",
        "",
    ],
)
async def test_next_only_leads_to_a_page_of_this_site(
    client: httpx.AsyncClient, world: World, target: str
) -> None:
    ana = await world.person()
    login = await client.get("/login", params={"next": target})
    response = await client.post(
        "/login",
        data={
            "email": ana.email,
            "password": PASSWORD,
            "csrf_token": csrf_of(login.text),
            "next": target,
        },
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "evil" not in location or location.startswith("/%")


def test_safe_next_keeps_local_paths_with_queries() -> None:
    assert safe_next("/meetings?tab=pending-meeting") == "/meetings?tab=pending-meeting"
    assert safe_next("/meetings/12") == "/meetings/12"
    assert safe_next("//evil.example") == "/meetings"
    assert safe_next("/\\evil.example") == "/meetings"
    assert safe_next("http://127.0.0.1/") == "/meetings"


async def test_logout_revokes_the_session(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    csrf = await sign_in(client, ana)
    stolen = dict(client.cookies)
    response = await client.post("/logout", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    # Even the cookie value copied before signing out no longer works.
    client.cookies.clear()
    client.cookies.update(stolen)
    again = await client.get("/meetings")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


async def test_logout_needs_the_csrf_token(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    await sign_in(client, ana)
    response = await client.post("/logout", data={})
    assert response.status_code == 403
    assert (await client.get("/meetings")).status_code == 200


async def test_a_tampered_session_cookie_counts_as_signed_out(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person()
    await sign_in(client, ana)
    value = client.cookies["meetbook_session"]
    client.cookies.set("meetbook_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    response = await client.get("/meetings")
    assert response.status_code == 303


async def test_login_is_throttled_per_account(client: httpx.AsyncClient, world: World) -> None:
    ana = await world.person()
    login = await client.get("/login")
    token = csrf_of(login.text)
    statuses = []
    for attempt in range(11):
        # Alternate wrong and empty passwords: both count, the empty ones skip the hashing.
        password = "wrong" if attempt % 5 == 0 else ""
        response = await client.post(
            "/login", data={"email": ana.email, "password": password, "csrf_token": token}
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [400] * 10
    assert statuses[10] == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in response.text
    # Even the right password waits until the window has passed.
    right = await client.post(
        "/login", data={"email": ana.email, "password": PASSWORD, "csrf_token": token}
    )
    assert right.status_code == 429


async def test_login_is_throttled_per_address(client: httpx.AsyncClient, world: World) -> None:
    login = await client.get("/login")
    token = csrf_of(login.text)
    for number in range(50):
        response = await client.post(
            "/login",
            data={"email": f"nobody{number}@example.com", "password": "", "csrf_token": token},
        )
        assert response.status_code == 400
    response = await client.post(
        "/login", data={"email": "another@example.com", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 429
