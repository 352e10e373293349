"""Screenshots of the pages the newest features added, for the README: a confirmed meeting
with a proposal, a request with the proposal form open, the answer-link page, the team page,
the settings page and sign-up from an invite (MEETBOOK_UPDATE_SCREENSHOTS=1 writes docs/).

The state is built through the HTTP API and the command line of one real server, then
every page is taken at 390×844 and 1280×800 in one browser, and checked not to overflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from meetbook.meetings.answer_links import AnswerGrant, AnswerLinks

from .conftest import Browse, Server, screenshot_dir
from .test_people_pages import _invite_link

pytestmark = pytest.mark.browser
SIZES = ((390, 844), (1280, 800))


def _post(
    server: Server, who: str, path: str, body: dict[str, Any], method: str = "POST"
) -> dict[str, Any]:
    with server.api(who) as api:
        response = api.request(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def _when(server: Server) -> str:
    return server.next_start().strftime("%Y-%m-%dT%H:%M:%SZ")


def _create(server: Server, requester: str, recipient: str, **fields: Any) -> int:
    body = {
        "user_id": server.people[recipient].id,
        "team_id": server.team_id,
        "date": _when(server),
        **fields,
    }
    meeting_id: int = _post(server, requester, "/api/v3/meeting/create", body)["id"]
    return meeting_id


def _propose(server: Server, who: str, meeting_id: int, reason: str | None = None) -> None:
    body = {"date": _when(server), "reason": reason}
    _post(server, who, f"/api/v3/meeting/{meeting_id}/propose", body)


def _no_overflow(page: Any, name: str) -> None:
    """Neither the page nor its navigation scrolls sideways (all four links show)."""
    for element in ("document.documentElement", "document.querySelector('.main-nav ul')"):
        overflow = page.evaluate(f"(e => e ? e.scrollWidth - e.clientWidth : 0)({element})")
        assert overflow <= 0, f"{name}: {element} overflows horizontally by {overflow}px"


def _shoot(page: Any, path: Path, *, full_page: bool = True) -> None:
    _no_overflow(page, path.name)
    page.screenshot(path=path, full_page=full_page)


def test_feature_screenshots(
    browse: Browse, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = screenshot_dir(tmp_path_factory)
    # 1. Several rounds: Ben asks, Chitra counter-proposes, Ben confirms, then Ben asks to
    # move it, Chitra declines, and Ben proposes again: Chitra is asked.
    moved = _create(
        server, "ben", "chitra",
        title="Design review: onboarding flow",
        link="https://meet.example.com/design-review",
    )  # fmt: skip
    _propose(server, "chitra", moved, "I'm at the dentist until noon")
    server.act("ben", moved, "confirm")
    _propose(server, "ben", moved, "The prototype needs one more day")
    server.act("chitra", moved, "proposal/decline", "That day is full, sorry")
    _propose(server, "ben", moved, "Would Thursday afternoon work?")
    assert server.meeting("chitra", moved)["awaiting_user_id"] == server.people["chitra"].id

    # 2. A request with a title and notes, waiting for Chitra.
    asked = _create(
        server, "ana", "chitra",
        title="Quarterly roadmap",
        notes="1. What shipped this quarter\n2. Hiring plan\n3. Open questions from sales",
        link="https://meet.example.com/roadmap",
    )  # fmt: skip

    # 3. The Confirm link of the email about a request, as the worker signs it.
    emailed = _create(server, "ben", "chitra", title="Weekly one-to-one")
    sequence = server.meeting("chitra", emailed)["sequence"]
    keys = AnswerLinks(server.env["MEETBOOK_SECRET_KEY"])
    token = keys.token(AnswerGrant(emailed, server.people["chitra"].id, sequence, "pending", None))

    # 4. The team as its admin sees it: an invite out, a second admin, a booking policy and
    # a webhook (without the conftest's hostile-named member, which other modules test).
    team = f"/api/v3/teams/{server.team_id}"
    with server.api("ana") as api:
        left = api.delete(f"{team}/members/{server.people['xss'].id}")
    assert left.status_code == 204, left.text
    _post(server, "ana", f"{team}/invites", {"email": "dana@example.com"})
    _post(server, "ana", f"{team}/members/{server.people['ben'].id}", {"role": "admin"}, "PATCH")
    policy = {"min_notice_minutes": 120, "max_days_ahead": 60}
    _post(server, "ana", team, policy, "PATCH")
    hook = {"url": "https://hooks.example.com/meetbook", "events": ["meeting-confirmed"]}
    _post(server, "ana", f"{team}/webhooks", hook)

    # 6. An invite to someone new: its sign-up page.
    _post(server, "ana", f"{team}/invites", {"email": "eli@example.com"})
    invite = _invite_link(server, "eli@example.com")

    # 5. Chitra's reminders, so the settings show more than the default.
    _post(server, "chitra", "/api/v3/me", {"reminder_minutes": [15, 1440]}, "PATCH")

    for width, height in SIZES:
        viewport = {"width": width, "height": height}
        size = f"{width}x{height}"
        chitra = browse.context(
            viewport=viewport, state=browse.state_of("chitra"), timezone_id="Asia/Kolkata"
        ).new_page()
        browse.watch(chitra)

        chitra.goto(f"/meetings/{moved}")
        expect(chitra.get_by_role("button", name="Accept")).to_be_visible()
        expect(chitra.locator(".proposal")).to_contain_text("Ben")
        expect(chitra.locator(".history-list li")).to_have_count(6)
        _shoot(chitra, folder / f"meeting-proposal-{size}.png")

        chitra.goto(f"/meetings/{asked}")
        chitra.locator("summary", has_text="Propose another time").click()
        chitra.get_by_label("New date and time").fill(f"{server.next_start():%Y-%m-%dT%H:%M}")
        note = chitra.get_by_label("Note")
        note.fill("Later that day suits me better, after the client call.")
        note.blur()
        expect(chitra.get_by_role("button", name="Propose this time")).to_be_visible()
        _shoot(chitra, folder / f"meeting-propose-form-{size}.png")

        if width < 400:  # one full-page shot of the settings, at phone width
            chitra.goto("/settings")
            _shoot(chitra, folder / f"settings-full-{size}.png")

        visitor = browse.context(viewport=viewport, timezone_id="Asia/Tokyo").new_page()
        browse.watch(visitor)
        visitor.goto(f"/answer/{token}/confirm")
        expect(visitor.get_by_role("button", name="Confirm")).to_be_visible()
        _shoot(visitor, folder / f"answer-link-{size}.png")

        visitor.goto(invite)
        expect(visitor.get_by_role("button", name="Create account and join")).to_be_visible()
        _shoot(visitor, folder / f"invite-signup-{size}.png")

        admin = browse.context(viewport=viewport, state=browse.state_of("ana")).new_page()
        browse.watch(admin)
        admin.goto(f"/teams/{server.team_id}")
        expect(admin.locator("#invites")).to_contain_text("dana@example.com")
        _shoot(admin, folder / f"team-admin-{size}.png")
    assert len(list(folder.glob("*.png"))) >= 11
