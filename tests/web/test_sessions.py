"""Web sessions: a credential of their own kind, with server-side idle and absolute expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select

from meetbook.app import create_app
from meetbook.auth.sessions import PRUNE_BATCH
from meetbook.auth.tokens import KIND_SESSION, hash_token
from meetbook.config import Settings
from meetbook.models import ApiToken
from tests.conftest import MovableClock

from .conftest import SECRET_KEY, World, csrf_of, sign_in

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0"


@pytest_asyncio.fixture
async def clocked_app(database_url: str, clock: MovableClock) -> AsyncIterator[FastAPI]:
    """The page on the shared test database, with a clock the test moves."""
    settings = Settings(
        database_url=database_url, base_url="http://testserver", secret_key=SECRET_KEY
    )
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        await application.state.rate_limiter.reset()
        yield application


@pytest_asyncio.fixture
async def browser(clocked_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=clocked_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Accept": "text/html", "User-Agent": BROWSER},
    ) as http:
        yield http


async def _sessions(app: FastAPI, user_id: int) -> list[ApiToken]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == KIND_SESSION)
        )
        return list(rows)


async def test_the_session_cookie_is_not_an_api_token(
    clocked_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    ana = await World(clocked_app).person()
    await sign_in(browser, ana)
    cookie = browser.cookies["meetbook_session"]

    answer = await browser.get("/api/v3/me", headers={"Authorization": f"Bearer {cookie}"})

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    # The cookie is the session's random secret; only its digest is stored.
    [row] = await _sessions(clocked_app, ana.id)
    assert cookie.startswith("mbs_") and "." not in cookie
    assert row.token_hash == hash_token(cookie) and row.token_hash not in cookie


async def test_an_api_token_is_not_a_session(
    clocked_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    ana = await World(clocked_app).person()
    csrf = await sign_in(browser, ana)
    created = await browser.post("/settings/tokens", data={"csrf_token": csrf, "name": "cli"})
    token = created.text.split('id="new-token" type="text" value="', 1)[1].split('"', 1)[0]
    assert token.startswith("mb_")
    assert (
        await browser.get("/api/v3/me", headers={"Authorization": f"Bearer {token}"})
    ).is_success

    browser.cookies.set("meetbook_session", token)

    page = await browser.get("/meetings")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_a_new_token_never_travels_in_a_cookie(
    clocked_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    ana = await World(clocked_app).person()
    csrf = await sign_in(browser, ana)

    created = await browser.post("/settings/tokens", data={"csrf_token": csrf, "name": "cli"})

    token = created.text.split('id="new-token" type="text" value="', 1)[1].split('"', 1)[0]
    cookies = created.headers.get_list("set-cookie")
    assert all(token not in cookie for cookie in cookies)
    # Nor in a cookie the browser still holds for the next page.
    assert all(token not in value for value in browser.cookies.values())
    assert token not in (await browser.get("/settings")).text


async def test_a_session_ends_after_fourteen_idle_days(
    clocked_app: FastAPI, browser: httpx.AsyncClient, clock: MovableClock
) -> None:
    ana = await World(clocked_app).person()
    await sign_in(browser, ana)

    clock.advance(days=13, hours=23)
    assert (await browser.get("/meetings")).status_code == 200  # used: the idle time restarts
    clock.advance(days=13, hours=23)
    assert (await browser.get("/meetings")).status_code == 200
    clock.advance(days=14, seconds=1)

    page = await browser.get("/meetings")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_a_session_ends_thirty_days_after_sign_in_however_busy(
    clocked_app: FastAPI, browser: httpx.AsyncClient, clock: MovableClock
) -> None:
    ana = await World(clocked_app).person()
    await sign_in(browser, ana)
    [row] = await _sessions(clocked_app, ana.id)
    assert row.expires_at == row.created_at + timedelta(days=30)

    for _ in range(4):
        clock.advance(days=7)
        assert (await browser.get("/meetings")).status_code == 200
    clock.advance(days=1, hours=23)
    assert (await browser.get("/meetings")).status_code == 200  # 29 days 23 hours
    clock.advance(hours=1, seconds=1)

    page = await browser.get("/meetings")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_sign_in_records_the_browser_and_address(
    clocked_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    ana = await World(clocked_app).person()
    await sign_in(browser, ana)

    [row] = await _sessions(clocked_app, ana.id)
    assert row.user_agent == BROWSER
    assert row.ip_address == "127.0.0.1"  # httpx's ASGI transport's client address
    page = await browser.get("/settings")
    assert f"{BROWSER} · from 127.0.0.1" in page.text


async def test_a_long_or_odd_user_agent_is_kept_short_and_printable(
    clocked_app: FastAPI, browser: httpx.AsyncClient
) -> None:
    ana = await World(clocked_app).person()
    browser.headers["User-Agent"] = "Bot\x1b[2J/1.0 " + "x" * 500  # ESC: a terminal escape

    await sign_in(browser, ana)

    [row] = await _sessions(clocked_app, ana.id)
    assert row.user_agent is not None
    assert len(row.user_agent) == 200 and row.user_agent.startswith("Bot[2J/1.0 xxx")


async def test_signing_in_prunes_that_users_ended_sessions(
    clocked_app: FastAPI, browser: httpx.AsyncClient, clock: MovableClock
) -> None:
    world = World(clocked_app)
    ana, ben = await world.person(), await world.person()
    for person in (ana, ben):
        await sign_in(browser, person)
        page = await browser.get("/logout")
        await browser.post("/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(browser, ana)  # a session that will only have gone idle
    clock.advance(days=15)
    browser.cookies.clear()

    await sign_in(browser, ana)

    live = await _sessions(clocked_app, ana.id)
    assert len(live) == 1 and live[0].revoked_at is None  # only the new one is left
    assert len(await _sessions(clocked_app, ben.id)) == 1  # another user's are left alone
    assert PRUNE_BATCH >= 1


async def test_pruning_is_bounded_per_sign_in(
    clocked_app: FastAPI, browser: httpx.AsyncClient, clock: MovableClock
) -> None:
    ana = await World(clocked_app).person()
    async with clocked_app.state.sessionmaker() as session, session.begin():
        for number in range(PRUNE_BATCH + 5):
            session.add(
                ApiToken(
                    user_id=ana.id,
                    name="web session",
                    kind=KIND_SESSION,
                    token_hash=hash_token(f"old-{ana.id}-{number}"),
                    created_at=clock.now - timedelta(days=40),
                    expires_at=clock.now - timedelta(days=10),
                )
            )

    await sign_in(browser, ana)

    async with clocked_app.state.sessionmaker() as session:
        left = await session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == ana.id)
        )
    assert left == 5 + 1  # the new session, and what one sign-in's batch did not reach
