"""Header injection through names and emails, and HTML injection into emails."""

from __future__ import annotations

import os
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from meetbook.accounts import service as accounts
from meetbook.errors import BadRequest
from meetbook.models import Team, User
from meetbook.notifications.email import render_email
from tests.notifications.factories import BASE_URL, DOMAIN, MAIL_FROM, make_meeting, make_notice

INJECTED_NAMES = [
    "Eve\r\nBcc: victim@example.com",
    "Eve\nSubject: you won",
    "Eve\rX-Evil: 1",
    "Eve\x00",
    "Eve\x7f",
]


# --- accounts refuse control characters at the door -----------------------------------------


@pytest.mark.parametrize("name", INJECTED_NAMES)
async def test_a_user_name_with_control_characters_is_refused(sessionmaker, name) -> None:
    async with sessionmaker() as session:
        with pytest.raises(BadRequest):
            await accounts.create_user(
                session, name=name, email="eve@example.com", timezone=None, password=None
            )
        await session.rollback()
        assert await session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize(
    "email",
    [
        "eve@example.com\r\nBcc: victim@example.com",
        "eve@example.com\nX: 1",
        "eve\x00@example.com",
        "eve\x85@example.com",  # C1 NEL
        "eve\u202e@example.com",  # bidi override: shown reversed in pages and emails
        "eve\u200b@example.com",  # zero-width space: two addresses that look the same
    ],
)
async def test_an_email_with_control_characters_is_refused(sessionmaker, email) -> None:
    async with sessionmaker() as session:
        with pytest.raises(BadRequest):
            await accounts.create_user(
                session, name="Eve", email=email, timezone=None, password=None
            )


@pytest.mark.parametrize("name", INJECTED_NAMES)
async def test_a_team_name_with_control_characters_is_refused(sessionmaker, name) -> None:
    async with sessionmaker() as session:
        with pytest.raises(BadRequest):
            await accounts.create_team(session, name)
        await session.rollback()
        assert await session.scalar(select(func.count()).select_from(Team)) == 0


async def test_the_profile_refuses_a_name_with_a_line_break(client, world) -> None:
    eve = await world.person("Eve")
    response = await client.patch(
        "/api/v3/me", json={"name": "Eve\r\nBcc: victim@example.com"}, headers=eve.auth
    )
    assert response.status_code == 400
    assert (await client.get("/api/v3/me", headers=eve.auth)).json()["name"] == "Eve"


def test_the_cli_refuses_a_name_with_a_line_break(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"  # the CLI migrates it
    env = {**os.environ, "MEETBOOK_DATABASE_URL": database_url, "MEETBOOK_SECRET_KEY": "k" * 40}
    done = subprocess.run(
        [sys.executable, "-m", "meetbook.cli", "users", "create", "--name",
         "Eve\r\nBcc: victim@example.com", "--email", f"eve-{tmp_path.name}@example.com"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "control characters" in done.stderr


# --- the email renderer holds even for data that got in some other way ----------------------


def _wire_headers(**meeting: Any) -> list[str]:
    """The header lines of the confirmed email as they go on the wire (unfolded)."""
    notice = make_notice("meeting-confirmed", make_meeting(**meeting))
    message = render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)
    head = message.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n")


@pytest.mark.parametrize("name", INJECTED_NAMES)
def test_a_name_cannot_add_mail_headers(name) -> None:
    # The confirmed email goes to the requester and names the recipient in its subject.
    lines = _wire_headers(requester_name=name, recipient_name=name)
    names = [line.split(":", 1)[0].lower() for line in lines]
    assert names.count("subject") == 1 and names.count("to") == 1
    assert not {"bcc", "cc", "x-evil"} & set(names)
    parsed = message_from_bytes("\r\n".join(lines).encode() + b"\r\n\r\n", policy=policy.default)
    assert "Eve" in str(parsed["To"])


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_names_reason_and_link_are_escaped_in_html() -> None:
    script = "<script>alert(1)</script>"
    notice = make_notice(
        "meeting-rejected",
        make_meeting(
            requester_name=f"Ana {script}",
            recipient_name='Ben <img src=x onerror="alert(2)">',
            reason=f"Busy {script}",
            link='https://zoom.us/j/1"onmouseover="alert(3)',
        ),
    )
    message = render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN)
    html = _html(message)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html
    assert '"onmouseover=' not in html and 'onerror="' not in html
    # The plain-text part shows the text as written: it is not HTML.
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and script in str(text.get_content())


def test_a_created_email_escapes_the_requester_name() -> None:
    notice = make_notice(
        "meeting-created", make_meeting(requester_name="<b onmouseover=alert(1)>Ana</b>")
    )
    html = _html(render_email(notice, mail_from=MAIL_FROM, base_url=BASE_URL, domain=DOMAIN))
    assert "<b onmouseover" not in html
    assert "&lt;b onmouseover=alert(1)&gt;Ana&lt;/b&gt;" in html
