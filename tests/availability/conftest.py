"""Factories for the availability tests: teams with an admin, confirmed meetings, and a
real CalDAV server (Radicale, from PyPI) on a free port."""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest
from requests.auth import HTTPBasicAuth

from meetbook.accounts import service as accounts
from tests.conftest import MovableClock, Person, World, create_meeting


@pytest.fixture
def clock() -> MovableClock:
    """The app's clock, pinned: these tests name days of 2027 (its clock changes among
    them), which must stay in the future whenever the suite runs."""
    return MovableClock(now=datetime(2026, 12, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def admin_team(world: World) -> Callable[..., Awaitable[int]]:
    """`await admin_team(admin, *members)`: a team whose first person is its admin."""

    async def make(admin: Person, *members: Person) -> int:
        team_id = await world.team(admin, *members)
        async with world.sessionmaker() as session, session.begin():
            await accounts.add_member(session, team_id, admin.id, "admin")
        return team_id

    return make


async def confirmed(
    client: httpx.AsyncClient, by: Person, to: Person, team_id: int, date: str
) -> dict[str, Any]:
    """A meeting `by` requested and `to` confirmed."""
    created = await create_meeting(client, by, to, team_id, date)
    assert created.status_code == 201, created.text
    meeting_id = created.json()["id"]
    response = await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=to.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# A real CalDAV server: Radicale, started once per test session -----------------------------

RADICALE_USER = "ana"
RADICALE_PASSWORD = "radicale-pass-1"


@dataclass(frozen=True)
class Radicale:
    """A running Radicale (htpasswd plain auth) at `base` (".../"), one user."""

    base: str
    username: str
    password: str

    def client(self) -> caldav.DAVClient:
        auth = HTTPBasicAuth(self.username, self.password)
        return caldav.DAVClient(url=self.base, auth=auth)

    def new_calendar(self) -> str:
        """A fresh, empty calendar collection; its URL."""
        url = f"{self.base}{self.username}/cal-{secrets.token_hex(6)}/"
        with self.client() as client:
            client.mkcalendar(url)
        return url

    def add_event(self, calendar_url: str, ics: str) -> None:
        with self.client() as client:
            caldav.Calendar(client=client, url=calendar_url).save_event(ics)

    def get(self, url: str) -> tuple[int, str]:
        with self.client() as client:
            response = client.request(url, "GET")
            return response.status, response.raw if isinstance(response.raw, str) else ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def run_radicale(folder: Path) -> Iterator[Radicale]:
    """Start Radicale on a free port with its storage in `folder`; stop it afterwards."""
    users = folder / "users"
    users.write_text(f"{RADICALE_USER}:{RADICALE_PASSWORD}\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "radicale",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(folder / "storage"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            # No pause after a wrong password (a test sends one on purpose).
            "--auth-delay",
            "0",
            "--logging-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Radicale did not start")
            time.sleep(0.05)
        yield Radicale(f"http://127.0.0.1:{port}/", RADICALE_USER, RADICALE_PASSWORD)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    with run_radicale(tmp_path_factory.mktemp("radicale")) as server:
        yield server


def vevent(uid: str, lines: str) -> str:
    """A one-event VCALENDAR; `lines` are the VEVENT's own properties."""
    body = "\n".join(line.strip() for line in lines.strip().splitlines())
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//tests//EN\nBEGIN:VEVENT\n"
        f"UID:{uid}\nDTSTAMP:20261201T000000Z\n{body}\nEND:VEVENT\nEND:VCALENDAR\n"
    )
