"""Running a team from the web page, in Chromium against a real `meetbook serve`.

Ana (the demo's first person) is an instance admin and the demo team's admin.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import expect

from meetbook.auth.links import link_token

from .conftest import Browse, Server
from .test_pages import JS_MODES, _axe

pytestmark = pytest.mark.browser
NEW_PASSWORD = "amber-glacier-lantern-47"
_serial = itertools.count(1)


def _invite_link(server: Server, email: str) -> str:
    """The sign-up link of the newest invite to `email`, as the emailed link would be.

    The server runs without a worker (`--no-worker`), so the link is computed here the
    way the worker writes it into the email (tests/accounts test the email itself).
    """
    with sqlite3.connect(server.workdir / "e2e.db") as db:
        row_id, salt = db.execute(
            "SELECT id, salt FROM team_invites WHERE email = ? ORDER BY id DESC", (email,)
        ).fetchone()
    token = link_token(server.env["MEETBOOK_SECRET_KEY"], "invite", row_id, salt)
    return f"{server.base_url}/invite/{token}"


@pytest.mark.parametrize("js", JS_MODES)
def test_an_admin_invites_and_the_invitee_signs_up(
    browse: Browse, server: Server, js: bool
) -> None:
    email = f"newcomer-{next(_serial)}-{'js' if js else 'nojs'}@example.com"
    admin = browse.page("ana", js=js)
    admin.goto(f"/teams/{server.team_id}")
    admin.get_by_label("Email").fill(email)
    admin.get_by_role("button", name="Send invite").click()
    expect(admin.locator(".flashes")).to_contain_text(f"Invited {email}")
    expect(admin.locator("#invites")).to_contain_text(email)

    link = _invite_link(server, email)

    visitor = browse.context(js=js, timezone_id="Asia/Tokyo").new_page()
    browse.watch(visitor)
    visitor.goto(link)
    expect(visitor.get_by_role("heading", name=re.compile("^Join"))).to_be_visible()
    zone = visitor.get_by_label("Timezone")
    # With JavaScript the browser's zone is preselected; without, it stays unset (UTC).
    expect(zone).to_have_value("Asia/Tokyo" if js else "")
    visitor.get_by_label("Your name").fill("Nia Newcomer")
    visitor.get_by_label("Password").fill(NEW_PASSWORD)
    visitor.get_by_role("button", name="Create account and join").click()
    expect(visitor).to_have_url(re.compile(rf"/teams/{server.team_id}$"))
    expect(visitor.locator("#members")).to_contain_text("Nia Newcomer")
    assert not browse.problems.console_errors, browse.problems.console_errors


@pytest.mark.parametrize("js", JS_MODES)
def test_forgot_password_is_linked_from_sign_in(browse: Browse, js: bool) -> None:
    page = browse.page(js=js)
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")


def test_team_pages_have_no_serious_accessibility_violations(
    browse: Browse, server: Server, axe_source: str
) -> None:
    found: dict[str, Any] = {}
    signed_out = browse.context(bypass_csp=True).new_page()
    for path in ("/forgot-password", "/invite/1.not-a-token"):
        signed_out.goto(path)
        found[path] = _axe(signed_out, axe_source)
    for who in ("ana", "ben"):
        page = browse.context(bypass_csp=True, state=browse.state_of(who)).new_page()
        for path in ("/teams", f"/teams/{server.team_id}", "/settings"):
            page.goto(path)
            found[f"{path} ({who})"] = _axe(page, axe_source)
    email = f"axe-{next(_serial)}@example.com"
    admin = browse.page("ana")
    admin.goto(f"/teams/{server.team_id}")
    admin.get_by_label("Email").fill(email)
    admin.get_by_role("button", name="Send invite").click()
    link = _invite_link(server, email)
    signup = browse.context(bypass_csp=True).new_page()
    signup.goto(link)
    found["/invite/<token>"] = _axe(signup, axe_source)
    signup.get_by_label("Your name").fill("Axe")
    signup.get_by_label("Password").fill("short")
    signup.evaluate("document.querySelector('#password').removeAttribute('minlength')")
    signup.get_by_role("button", name="Create account and join").click()
    expect(signup.locator("#password-error")).to_be_visible()
    found["/invite/<token> (error)"] = _axe(signup, axe_source)
    problems = {path: issues for path, issues in found.items() if issues}
    assert not problems, problems
