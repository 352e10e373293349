"""Escaping, security headers, error pages and the service worker."""

from __future__ import annotations

import re

import httpx

from .conftest import World, sign_in

XSS = "<script>alert(1)</script>"


async def test_a_name_with_markup_is_shown_as_text_everywhere(
    client: httpx.AsyncClient, world: World
) -> None:
    ana = await world.person("Ana Lima", "Europe/Lisbon")
    evil = await world.person(XSS, "America/New_York")
    team = await world.team(ana, evil, name=f"Team {XSS}")
    meeting_id = await world.meeting(evil, ana, team)
    await world.meeting(ana, evil, team, days=3)
    await sign_in(client, ana)
    pages = [
        "/meetings?tab=pending-meeting",
        "/meetings?tab=sent",
        f"/meetings/{meeting_id}",
        f"/meetings/new?team={team}",
    ]
    for path in pages:
        html = (await client.get(path)).text
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    client.cookies.clear()
    await sign_in(client, evil)
    for path in ("/settings", "/meetings?tab=sent"):
        html = (await client.get(path)).text
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path


async def _check_page(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["cache-control"] == "no-store"
    # No inline script or style for the policy to block.
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), path
    assert " style=" not in response.text and "<style" not in response.text, path


async def test_pages_send_a_csp_and_have_no_inline_script(
    client: httpx.AsyncClient, world: World
) -> None:
    await _check_page(client, "/login")
    await sign_in(client, await world.person())
    for path in ("/meetings", "/settings", "/meetings/new", f"/meetings/{2**62}", "/logout"):
        await _check_page(client, path)


async def test_unknown_addresses_are_pages_for_browsers_and_json_for_clients(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = await client.get("/api/v3/no/such/route")
    assert api.status_code == 404
    assert api.json() == {"error": 404, "message": "There is nothing at this address."}
    plain = await client.get("/no/such/page", headers={"Accept": "*/*"})
    assert plain.json()["error"] == 404


async def test_root_goes_to_meetings(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/meetings"


async def test_the_service_worker_is_served_for_the_whole_site(client: httpx.AsyncClient) -> None:
    response = await client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["service-worker-allowed"] == "/"
    assert response.headers["content-type"].startswith("text/javascript")
    assert "showNotification" in response.text


async def test_static_files_are_served(client: httpx.AsyncClient) -> None:
    login = await client.get("/login")
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', login.text)
    js = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', login.text)
    assert css and js
    assert (await client.get(css.group(1))).status_code == 200
    assert (await client.get(js.group(1))).status_code == 200
