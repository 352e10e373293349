"""/dev/mailbox in Chromium: signed-in only, emails shown as a mail client would show them."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from meetbook.notifications.email import render_email
from meetbook.notifications.mailbox import DevMailbox
from tests.notifications.factories import BASE_URL, DOMAIN, MAIL_FROM, make_meeting, make_notice

from .conftest import Browse, Server

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


async def _keep_emails(database_url: str, count: int) -> None:
    engine = create_async_engine(database_url)
    try:
        mailbox = DevMailbox(async_sessionmaker(engine, expire_on_commit=False))
        # Long names and links: what would push a careless layout sideways on a phone.
        meeting = make_meeting(
            requester_name="Maximiliane Wolkenstein-Oberhausen",
            link="https://meet.example.com/" + "a-very-long-room-name-" * 6,
        )
        for number in range(count):
            event = ("meeting-created", "meeting-confirmed")[number % 2]
            notice = make_notice(event, meeting=replace(meeting, id=9000 + number))
            notice = replace(notice, notification_id=9000 + number)
            await mailbox.send(
                render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def emails(server: Server) -> None:
    """Real rendered emails in the server's dev mailbox (it runs without a worker)."""
    url = server.env["MEETBOOK_DATABASE_URL"]
    # Playwright's sync API owns this thread's event loop: run ours in another thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _keep_emails(url, 3)).result()


def test_the_mailbox_asks_signed_out_visitors_to_sign_in(
    browse: Browse, server: Server, emails: None
) -> None:
    page = browse.page()
    page.goto("/dev/mailbox")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fdev%2Fmailbox$"))
    email = page.request.get(f"{server.base_url}/dev/mailbox/1.html", max_redirects=0)
    assert email.status == 303


@pytest.mark.parametrize(
    "viewport", [PHONE, {"width": 1280, "height": 800}], ids=["phone", "desktop"]
)
def test_the_mailbox_shows_each_email_faithfully_without_csp_errors(
    browse: Browse, server: Server, emails: None, viewport: dict[str, int]
) -> None:
    page = browse.page("ana", viewport=viewport)
    csp_reports: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_reports.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto("/dev/mailbox")
    expect(page.get_by_role("heading", name="Dev mailbox")).to_be_visible()
    frames = page.locator("iframe")
    expect(frames).to_have_count(3)
    for index in range(3):
        frames.nth(index).scroll_into_view_if_needed()
        assert "allow-scripts" not in (frames.nth(index).get_attribute("sandbox") or "")
    # Inside the frame the email's own inline styles apply: its button is blue.
    email = page.frame_locator("iframe").first
    button = email.get_by_role("link", name="Confirm or reject")
    expect(button).to_be_visible()
    colour = button.evaluate("element => getComputedStyle(element).backgroundColor")
    assert colour == "rgb(29, 78, 216)", colour
    page.wait_for_load_state("networkidle")

    assert csp_reports == []
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"/dev/mailbox overflows horizontally by {overflow}px"
    # The page's own stylesheet is in use (not the browser's defaults).
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(244, 246, 249)"


def test_the_mailbox_keeps_email_scripts_from_running(
    browse: Browse, server: Server, emails: None
) -> None:
    page: Any = browse.page("ben")
    page.goto("/dev/mailbox")
    src = page.locator("iframe").first.get_attribute("src")
    assert src and re.fullmatch(r"/dev/mailbox/\d+\.html", src)
    answer = page.request.get(f"{server.base_url}{src}")
    csp = answer.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "sandbox" in csp
