"""The linked calendar in the browser: linking it in Settings, and the request form's free
times that leave its busy times out (MEETBOOK_UPDATE_SCREENSHOTS=1 writes docs/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.availability.conftest import Radicale, vevent
from tests.availability.conftest import radicale as radicale

from .conftest import Browse, Server, screenshot_dir


def test_link_a_calendar_and_see_its_busy_times_left_out(
    browse: Browse, server: Server, radicale: Radicale, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = screenshot_dir(tmp_path_factory)
    # A weekday a week or two ahead, with a 10:00-12:00 (UTC) event in Ana's calendar.
    day = (datetime.now(UTC) + timedelta(days=8)).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    url = radicale.new_calendar()
    stamp = f"{day:%Y%m%d}"
    radicale.add_event(
        url,
        vevent("offsite", f"DTSTART:{stamp}T100000Z\nDTEND:{stamp}T120000Z\nSUMMARY:Offsite"),
    )
    ana = server.people["ana"]
    for width, height in ((390, 844), (1280, 800)):
        size = f"{width}x{height}"
        viewport = {"width": width, "height": height}
        own = browse.context(viewport=viewport, state=browse.state_of("ana")).new_page()
        own.goto("/settings#linked-calendar")
        own.get_by_label("Calendar address (CalDAV URL)").fill(url)
        own.get_by_label("User name").fill(radicale.username)
        own.get_by_label("Password (an app password is best)").fill(radicale.password)
        own.locator('form[action="/settings/calendar"] button[type="submit"]').click()
        section = own.locator("#linked-calendar")
        assert "Read without problems" in section.inner_text()
        section.screenshot(path=folder / f"settings-linked-calendar-{size}.png")

        page = browse.context(viewport=viewport, state=browse.state_of("chitra")).new_page()
        page.goto(f"/meetings/new?team={server.team_id}&member={ana.id}&day={day.isoformat()}")
        times = page.locator(".free-times")
        text = times.inner_text()
        # Ana is in Europe/Lisbon (UTC+0 in winter): the 10:00-12:00 event leaves 09:00
        # and then 12:00 on.
        assert "09:00–10:00" in text and "12:00–13:00" in text
        assert "10:00–11:00" not in text and "11:00–12:00" not in text
        page.screenshot(path=folder / f"request-form-free-times-{size}.png", full_page=True)
