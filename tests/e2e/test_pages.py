"""The web page in Chromium against a real `meetbook serve`, with and without JavaScript."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect

from .conftest import XSS_NAME, Browse, Server, eventually, screenshot_dir, sign_in

pytestmark = pytest.mark.browser

JS_MODES = [pytest.param(True, id="js"), pytest.param(False, id="no-js")]


def card(page: Any, meeting_id: int) -> Any:
    return page.locator(f"#meeting-{meeting_id}")


def flash(page: Any) -> Any:
    """The messages left by the last action."""
    return page.locator(".flashes")


@pytest.mark.parametrize("js", JS_MODES)
def test_the_email_link_signs_in_and_lands_on_pending(
    browse: Browse, server: Server, js: bool
) -> None:
    meeting_id = server.request("ana", "ben")
    page = browse.page(js=js)
    page.goto("/meetings?tab=pending-meeting")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fmeetings%3Ftab%3Dpending-meeting$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    sign_in(page, server.people["ben"])
    expect(page).to_have_url(re.compile(r"/meetings\?tab=pending-meeting$"))
    expect(card(page, meeting_id)).to_contain_text("Ana Lima asks to meet you")
    expect(page.get_by_role("link", name=re.compile("^Pending"))).to_have_attribute(
        "aria-current", "page"
    )


@pytest.mark.parametrize("js", JS_MODES)
def test_confirm_moves_the_request_to_upcoming(browse: Browse, server: Server, js: bool) -> None:
    meeting_id = server.request("ana", "ben")
    page = browse.page("ben", js=js)
    page.goto("/meetings?tab=pending-meeting")
    if js:
        page.evaluate("window.stayedOnThePage = true")
    card(page, meeting_id).get_by_role("button", name="Confirm").click()

    expect(flash(page)).to_contain_text("Confirmed the meeting with Ana Lima")
    if js:  # app.js answered in place: no page load in between
        assert page.evaluate("window.stayedOnThePage === true")
    expect(card(page, meeting_id)).to_have_count(0)
    page.get_by_role("link", name="See it in Upcoming").click()
    expect(page).to_have_url(re.compile(r"tab=upcoming"))
    expect(card(page, meeting_id)).to_contain_text("Meeting with Ana Lima")
    assert server.meeting("ben", meeting_id)["status"] == "confirmed"


@pytest.mark.parametrize("js", JS_MODES)
def test_reject_a_request_with_a_reason(browse: Browse, server: Server, js: bool) -> None:
    meeting_id = server.request("chitra", "ben")
    page = browse.page("ben", js=js)
    page.goto("/meetings?tab=pending-meeting")
    item = card(page, meeting_id)
    item.get_by_text("Reject").first.click()
    item.get_by_label("Reason").fill("I am travelling that week.")
    item.get_by_role("button", name="Reject request").click()

    expect(flash(page)).to_contain_text("Rejected the request from Chitra Rao")
    meeting = server.meeting("ben", meeting_id)
    assert (meeting["status"], meeting["reason"]) == ("rejected", "I am travelling that week.")
    page.goto("/meetings?tab=past")
    expect(card(page, meeting_id)).to_contain_text("I am travelling that week.")


@pytest.mark.parametrize("js", JS_MODES)
def test_cancel_a_sent_request(browse: Browse, server: Server, js: bool) -> None:
    meeting_id = server.request("ana", "chitra")
    page = browse.page("ana", js=js)
    page.goto("/meetings?tab=sent")
    item = card(page, meeting_id)
    expect(item).to_contain_text("Your request to Chitra Rao")
    item.get_by_text("Withdraw request").first.click()
    item.get_by_label("Reason").fill("Sorted it out by email.")
    item.get_by_role("button", name="Withdraw request").click()

    expect(flash(page)).to_contain_text("Withdrew your request to Chitra Rao")
    expect(card(page, meeting_id)).to_have_count(0)
    assert server.meeting("ana", meeting_id)["status"] == "cancelled"


def _future_day(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )


@pytest.mark.parametrize("js", JS_MODES)
def test_request_a_meeting_in_the_recipients_zone(browse: Browse, server: Server, js: bool) -> None:
    chitra = server.people["chitra"]
    # Different days per mode, so the two requests never compete for one slot.
    day = _future_day(40 if js else 41)
    page = browse.page("ana", js=js)
    page.goto("/meetings")
    page.get_by_role("link", name="Request a meeting").first.click()
    expect(page.get_by_role("heading", name="Request a meeting")).to_be_visible()
    member = page.get_by_label("Who do you want to meet?")
    expect(member).to_contain_text("Chitra Rao — Asia/Kolkata (UTC+05:30)")
    member.select_option(str(chitra.id))
    if js:  # the hint follows the choice at once
        expect(page.locator("#date-hint")).to_contain_text("Chitra Rao’s clock")
        expect(page.locator("#date-hint")).to_contain_text("Asia/Kolkata (UTC+05:30 now)")
    page.get_by_label("Date and time").fill(f"{day:%Y-%m-%d}T15:00")
    page.get_by_label("Meeting link").fill("https://meet.example.com/ana-chitra")
    page.get_by_role("button", name="Send request").click()

    expect(page).to_have_url(re.compile(r"/meetings\?tab=sent$"))
    expect(flash(page)).to_contain_text("Requested a meeting with Chitra Rao")
    with server.api("ana") as api:
        listed = api.get(
            "/api/v3/meeting/list", params={"role": "requester", "status": "pending", "limit": 100}
        ).json()["data"]
    mine = [m for m in listed if m["client_id"] == chitra.id and m["link"].endswith("ana-chitra")]
    expected = datetime(day.year, day.month, day.day, 15, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert [
        m["booking_date"] for m in mine if m["start_time"] // 86400 == expected.timestamp() // 86400
    ] == [expected.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")]
    # The requester sees it in their own zone (Lisbon), with the recipient's time too.
    lisbon = expected.astimezone(ZoneInfo("Europe/Lisbon"))
    expect(page.locator(".cards")).to_contain_text(f"{lisbon:%H:%M}–")
    expect(page.locator(".cards")).to_contain_text("15:00 IST (Asia/Kolkata)")


@pytest.mark.parametrize("js", JS_MODES)
def test_form_errors_stand_next_to_the_date_and_keep_the_values(
    browse: Browse, server: Server, js: bool
) -> None:
    ben = server.people["ben"]
    page = browse.page("ana", js=js)
    page.goto("/meetings/new")
    page.get_by_label("Who do you want to meet?").select_option(str(ben.id))
    page.get_by_label("Meeting link").fill("https://meet.example.com/kept")

    def submit(date: str) -> Any:
        page.get_by_label("Date and time").fill(date)
        page.get_by_role("button", name="Send request").click()
        error = page.locator("#date-error")
        expect(error).to_be_visible()
        expect(page.get_by_label("Meeting link")).to_have_value("https://meet.example.com/kept")
        expect(page.get_by_label("Who do you want to meet?")).to_have_value(str(ben.id))
        expect(page.get_by_label("Date and time")).to_have_value(date)
        return error

    expect(submit("2021-03-01T10:00")).to_contain_text("in the past")

    year = datetime.now(UTC).year + 1
    march = datetime(year, 3, 8)
    gap_day = march + timedelta(days=(6 - march.weekday()) % 7)  # second Sunday of March
    expect(submit(f"{gap_day:%Y-%m-%d}T02:30")).to_contain_text(
        "does not exist as a local time in America/New_York"
    )

    taken = server.request("chitra", "ben")
    server.act("ben", taken, "confirm")
    start = datetime.fromtimestamp(server.meeting("ben", taken)["start_time"], UTC)
    local = start.astimezone(ZoneInfo("America/New_York"))
    expect(submit(f"{local:%Y-%m-%dT%H:%M}")).to_contain_text("slot is taken")


def test_a_form_post_without_csrf_token_is_refused(browse: Browse, server: Server) -> None:
    meeting_id = server.request("ana", "ben")
    page = browse.page("ben")
    page.goto("/meetings")
    response = page.request.post(f"/meetings/{meeting_id}/confirm", form={"back": "/meetings"})
    assert response.status == 403
    assert "nothing was changed" in response.text()
    assert server.meeting("ben", meeting_id)["status"] == "pending"


def test_a_hostile_name_is_shown_as_text(browse: Browse, server: Server) -> None:
    from_xss = server.request("xss", "ana")
    server.request("ana", "xss")
    page = browse.page("ana")
    page.goto("/meetings?tab=pending-meeting")
    expect(card(page, from_xss)).to_contain_text(f"{XSS_NAME} asks to meet you")
    page.goto(f"/meetings/{from_xss}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{XSS_NAME} asks to meet you")
    page.goto("/meetings?tab=sent")
    expect(page.locator(".cards")).to_contain_text(f"Your request to {XSS_NAME}")
    page.goto("/meetings/new")
    expect(page.get_by_label("Who do you want to meet?")).to_contain_text(XSS_NAME)

    own = browse.page("xss")
    own.goto("/settings")
    expect(own.get_by_label("Name", exact=True)).to_have_value(XSS_NAME)
    expect(own.locator(".account .who")).to_have_text(XSS_NAME)
    # Nothing ran: no script element was created from the name, and no dialog opened.
    for view in (page, own):
        assert view.evaluate("document.querySelectorAll('script:not([src])').length") == 0
    assert browse.problems.dialogs == []


def test_logout_revokes_the_session(browse: Browse, server: Server) -> None:
    context = browse.context()
    page = context.new_page()
    browse.watch(page)
    sign_in(page, server.people["chitra"])
    expect(page).to_have_url(re.compile(r"/meetings"))
    cookies = context.cookies()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(flash(page)).to_contain_text("You are signed out")

    replay = browse.context()
    replay.add_cookies(cookies)
    again = replay.new_page()
    again.goto("/meetings")
    expect(again).to_have_url(re.compile(r"/login\?next="))


def test_settings_saves_the_timezone_with_the_device_zone_offered(
    browse: Browse, server: Server
) -> None:
    page = browse.page("xss", timezone_id="Pacific/Auckland")
    page.goto("/settings")
    page.get_by_role("button", name=re.compile("Use this device.s timezone")).click()
    expect(page.get_by_label("Timezone")).to_have_value("Pacific/Auckland")
    page.get_by_role("button", name="Save profile").click()
    expect(flash(page)).to_contain_text("Times are now shown in Pacific/Auckland")
    page.get_by_label("Timezone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save profile").click()
    expect(flash(page)).to_contain_text("Asia/Tokyo (UTC+09:00)")


def test_without_javascript_no_dead_controls_show(browse: Browse, server: Server) -> None:
    page = browse.page("chitra", js=False)
    page.goto("/settings")
    expect(page.get_by_role("button", name="Turn on notifications")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("device"))).to_be_hidden()
    expect(page.locator("[data-push-status]")).to_contain_text("need JavaScript")
    page.goto("/meetings/new")
    expect(page.get_by_role("button", name="Send request")).to_be_visible()


def test_an_api_token_is_shown_once(browse: Browse, server: Server) -> None:
    page = browse.page("chitra")
    page.goto("/settings")
    page.get_by_label("New token name").fill("Calendar sync")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("Your new token").input_value()
    assert token.startswith("mb_")
    with httpx_client(server, token) as api:
        assert api.get("/api/v3/me").json()["name"] == "Chitra Rao"
    # The token came in the POST's own answer; no cookie carries it to the next page.
    assert all(token not in cookie["value"] for cookie in page.context.cookies())
    page.goto("/settings")
    expect(page.get_by_label("Your new token")).to_have_count(0)
    page.get_by_role("button", name=re.compile("^Revoke Calendar sync")).first.click()
    expect(flash(page)).to_contain_text("Revoked")
    with httpx_client(server, token) as api:
        assert api.get("/api/v3/me").status_code == 401


def httpx_client(server: Server, token: str) -> Any:
    import httpx

    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"})


def test_the_service_worker_shows_a_push_message(browse: Browse, server: Server) -> None:
    meeting_id = server.request("ana", "ben")
    context = browse.context(permissions=["notifications"])
    page = context.new_page()
    browse.watch(page)
    page.goto("/login")
    sign_in(page, server.people["ben"])
    page.goto("/settings")
    expect(page.get_by_role("heading", name="Notifications in this browser")).to_be_visible()
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{server.base_url}/"

    # The opt-in endpoint, called the way app.js calls it (cookie + CSRF header).
    # A real browser key pair's public point: the endpoint checks it is on P-256.
    browser_key = (
        base64.urlsafe_b64encode(
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        .decode()
        .rstrip("=")
    )
    status = page.evaluate(
        """async (p256dh) => {
            const box = document.querySelector('[data-push]');
            const response = await fetch('/settings/push-subscription', {
                method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': box.dataset.csrf},
                body: JSON.stringify({endpoint: 'https://push.example.test/e2e',
                    keys: {p256dh: p256dh, auth: 'c2VjcmV0LWF1dGgtMTZieQ'}}),
            });
            return response.status;
        }""",
        browser_key,
    )
    assert status == 201

    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    eventually(page, lambda: bool(registrations), message="the service worker registration")
    payload = {
        "title": "MEETING ALERT",
        "body": "Ana Lima requested a meeting with you. Click to Confirm or Reject.",
        "type": "meeting-created",
        "meeting_id": str(meeting_id),
        "booking_number": "MB-TEST-0001",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": f"{server.base_url}/",
            "registrationId": registrations[0]["registrationId"],
            "data": json.dumps(payload),
        },
    )
    shown: list[dict[str, Any]] = []

    def notification_shown() -> bool:
        shown[:] = page.evaluate(
            """async () => (await (await navigator.serviceWorker.ready).getNotifications())
                .map(n => ({title: n.title, body: n.body, data: n.data}))"""
        )
        return bool(shown)

    eventually(page, notification_shown, message="the notification")
    assert shown[0]["title"] == "MEETING ALERT"
    assert shown[0]["body"] == payload["body"]
    assert shown[0]["data"]["meetingId"] == str(meeting_id)


AXE_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ['violations']});
    return result.violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id} (${v.impact}): ${v.help} -> ` +
             v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


def _axe(page: Any, axe_source: str) -> list[str]:
    page.add_script_tag(content=axe_source)
    problems: list[str] = page.evaluate(AXE_RUN)
    return problems


def _next_weekday() -> datetime:
    day = _future_day(3)
    return day + timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)


def _pages_for(server: Server, meeting_id: int) -> list[str]:
    return [
        "/meetings?tab=pending-meeting",
        "/meetings?tab=upcoming",
        "/meetings?tab=sent",
        "/meetings?tab=past",
        f"/meetings/{meeting_id}",
        "/meetings/new",
        f"/meetings/new?member={server.people['ana'].id}",
        # With the teammate's free times listed (a weekday, so there are some).
        f"/meetings/new?member={server.people['ana'].id}&day={_next_weekday():%Y-%m-%d}",
        "/settings",
        "/logout",
        "/meetings/999999",
    ]


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_no_serious_accessibility_violations(
    browse: Browse, server: Server, axe_source: str, width: int, height: int
) -> None:
    meeting_id = server.request("ana", "ben")
    viewport = {"width": width, "height": height}
    # axe is injected as an inline script, which the page's CSP rightly forbids.
    signed_out = browse.context(bypass_csp=True, viewport=viewport).new_page()
    signed_out.goto("/login")
    found = {"/login": _axe(signed_out, axe_source)}
    state = browse.state_of("ben")
    page = browse.context(bypass_csp=True, viewport=viewport, state=state).new_page()
    for path in _pages_for(server, meeting_id):
        page.goto(path)
        found[path] = _axe(page, axe_source)
    # An error state of the request form too.
    page.goto(f"/meetings/new?member={server.people['ana'].id}")
    page.get_by_label("Date and time").fill("2021-01-04T10:00")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#date-error")).to_be_visible()
    found["/meetings/new (error)"] = _axe(page, axe_source)
    problems = {path: issues for path, issues in found.items() if issues}
    assert not problems, json.dumps(problems, indent=2)


def test_screenshots(
    browse: Browse, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every page at 390×844 and 1280×800 (MEETBOOK_UPDATE_SCREENSHOTS=1 writes docs/)."""
    folder = screenshot_dir(tmp_path_factory)
    # A representative week for Chitra: two requests waiting, one ahead, one sent, one past.
    waiting = server.request("ana", "chitra", link="https://meet.example.com/roadmap")
    server.request("ben", "chitra")
    ahead = server.request("ben", "chitra", link="https://meet.example.com/design-review")
    server.act("chitra", ahead, "confirm")
    server.request("chitra", "ana")
    declined = server.request("ana", "chitra")
    server.act("chitra", declined, "reject", "Clashes with the quarterly review; next week?")
    shots = {
        "meetings-pending": "/meetings?tab=pending-meeting",
        "meetings-upcoming": "/meetings?tab=upcoming",
        "meetings-sent": "/meetings?tab=sent",
        "meetings-past": "/meetings?tab=past",
        "meeting-detail": f"/meetings/{waiting}",
        "request-form": f"/meetings/new?member={server.people['ana'].id}",
        "settings": "/settings",
        "not-found": "/meetings/999999",
    }
    for width, height in ((390, 844), (1280, 800)):
        viewport = {"width": width, "height": height}
        size = f"{width}x{height}"
        signed_out = browse.context(viewport=viewport).new_page()
        signed_out.goto("/login")
        signed_out.screenshot(path=folder / f"login-{size}.png", full_page=True)
        page = browse.context(viewport=viewport, state=browse.state_of("chitra")).new_page()
        browse.watch(page)
        for name, path in shots.items():
            page.goto(path)
            page.screenshot(path=folder / f"{name}-{size}.png", full_page=True)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} overflows horizontally by {overflow}px at {size}"
        # The form with an error, as someone on a phone would meet it.
        page.goto(f"/meetings/new?member={server.people['ana'].id}")
        page.get_by_label("Date and time").fill("2021-01-04T10:00")
        page.get_by_role("button", name="Send request").click()
        page.screenshot(path=folder / f"request-form-error-{size}.png", full_page=True)
    assert len(list(folder.glob("*.png"))) >= 2 * (len(shots) + 2)


def test_the_page_speaks_the_chosen_language(browse: Browse, server: Server) -> None:
    # Signed out, a German browser gets the German sign-in page.
    german = browse.page(js=False, locale="de-DE")
    german.goto("/login")
    expect(german.get_by_role("heading", name="Anmelden")).to_be_visible()
    expect(german.locator("html")).to_have_attribute("lang", "de")
    # Signed in, the account's language, chosen in the settings without JavaScript.
    page = browse.page("xss", js=False)
    try:
        page.goto("/settings")
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Save profile").click()
        expect(page.get_by_role("heading", name="Paramètres", exact=True)).to_be_visible()
        expect(flash(page)).to_contain_text("Enregistré. Les heures sont désormais affichées")
        page.goto("/meetings?tab=upcoming")
        expect(page.get_by_role("link", name="Demander une réunion").first).to_be_visible()
    finally:
        with server.api("xss") as api:
            assert api.patch("/api/v3/me", json={"locale": "en"}).status_code == 200
