"""Browser tests: a real `meetbook serve` on loopback and Debian's Chromium via Playwright.

One server (temporary SQLite database, demo people plus one with a hostile name) and
one browser serve a whole module. Without /usr/bin/chromium the tests are skipped,
unless MEETBOOK_REQUIRE_BROWSER=1 (CI), where they fail instead. axe-core comes from
`npm ci --prefix tests/e2e`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.conftest import clean_environment

CHROMIUM = Path(os.environ.get("MEETBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
E2E_DIR = Path(__file__).parent
AXE_JS = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
REPO = E2E_DIR.parent.parent
SCREENSHOTS = REPO / "docs" / "screenshots"
DEMO_PASSWORD = "tidy-lantern-orbit"
XSS_NAME = "<script>alert(1)</script>"
SERVER_START_TIMEOUT = 60
_CLIENT_ERROR_LOAD = "Failed to load resource: the server responded with a status of 4"


def require(condition: bool, message: str) -> None:
    """Skip when something the browser tests need is missing; fail instead on CI."""
    if condition:
        return
    if os.environ.get("MEETBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message} (MEETBOOK_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    email: str
    timezone: str
    token: str


@dataclass
class Server:
    base_url: str
    workdir: Path
    env: dict[str, str]
    log_path: Path
    team_id: int = 0
    people: dict[str, Account] = field(default_factory=dict)
    # Signed-in browser state per person, shared by the module's tests: signing in once
    # each keeps the suite fast and under the login throttle (10 a minute per account).
    signed_in: dict[str, Any] = field(default_factory=dict)
    _slots: Iterator[int] = field(default_factory=lambda: itertools.count(0))

    def cli(self, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "meetbook.cli", *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"meetbook {' '.join(args)}: {done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def api(self, who: str) -> httpx.Client:
        token = self.people[who].token
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def next_start(self) -> datetime:
        """A fresh future hour, two hours after the previous one, so slots never overlap."""
        base = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        return base + timedelta(hours=2 * next(self._slots))

    def request(self, requester: str, recipient: str, *, link: str | None = None) -> int:
        """Create a meeting through the HTTP API; returns its id."""
        start = self.next_start()
        body = {
            "user_id": self.people[recipient].id,
            "team_id": self.team_id,
            "date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "link": link,
        }
        with self.api(requester) as api:
            response = api.post("/api/v3/meeting/create", json=body)
        assert response.status_code == 201, response.text
        meeting_id: int = response.json()["id"]
        return meeting_id

    def meeting(self, who: str, meeting_id: int) -> dict[str, Any]:
        with self.api(who) as api:
            response = api.get(f"/api/v3/meeting/{meeting_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def act(self, who: str, meeting_id: int, action: str, reason: str | None = None) -> None:
        with self.api(who) as api:
            body = {"reason": reason} if reason else None
            response = api.post(f"/api/v3/meeting/{meeting_id}/{action}", json=body)
        assert response.status_code == 200, response.text

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_vapid_key(path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


_DEMO_LINE = re.compile(
    r"^\s+(?P<name>.+?)\s+id=(?P<id>\d+)\s+(?P<email>\S+@\S+)\s+(?P<zone>\S+)"
    r"\s+token: (?P<token>\S+)"
)


def _read_demo(log_path: Path, deadline: float) -> tuple[int, list[Account]]:
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if "meetbook is running" in text:
            team = re.search(r"Demo team id (\d+)", text)
            assert team, text
            people = [
                Account(int(m["id"]), m["name"], m["email"], m["zone"], m["token"])
                for m in map(_DEMO_LINE.match, text.splitlines())
                if m
            ]
            return int(team.group(1)), people
        time.sleep(0.1)
    raise AssertionError(f"meetbook serve did not start:\n{log_path.read_text()[-4000:]}")


def _wait_healthy(server: Server, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"meetbook serve exited:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"meetbook serve never became healthy:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`meetbook serve --demo --no-worker` on a free loopback port, with Web Push on."""
    require(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM}")
    workdir = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    vapid = workdir / "vapid.pem"
    _write_vapid_key(vapid)
    env = clean_environment() | {
        "MEETBOOK_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'e2e.db'}",
        "MEETBOOK_BASE_URL": f"http://127.0.0.1:{port}",
        "MEETBOOK_SECRET_KEY": "e2e-secret-key-not-for-production",
        "MEETBOOK_VAPID_PRIVATE_KEY": str(vapid),
        "MEETBOOK_VAPID_SUBJECT": "mailto:ops@example.com",
        # The push test subscribes with an endpoint that never resolves (push.example.test).
        "MEETBOOK_ALLOW_PRIVATE_TARGETS": "1",
        "MEETBOOK_LOG_LEVEL": "warning",
    }
    server = Server(f"http://127.0.0.1:{port}", workdir, env, workdir / "server.log")
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meetbook.cli",
                "serve",
                "--port",
                str(port),
                "--no-worker",
                "--demo",
            ],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        server.team_id, demo = _read_demo(server.log_path, deadline)
        _wait_healthy(server, process, deadline)
        for account in demo:
            server.people[account.name.split()[0].lower()] = account
        created = server.cli(
            "users", "create", "--name", XSS_NAME, "--email", "xss@example.com",
            "--timezone", "Asia/Tokyo", "--password", DEMO_PASSWORD,
        )  # fmt: skip
        with ThreadPoolExecutor(2) as pool:  # each CLI run pays Python's start-up; overlap them
            user = str(created["id"])
            added = pool.submit(
                server.cli, "teams", "add-member", "--team", str(server.team_id), "--user", user
            )
            token = pool.submit(server.cli, "tokens", "create", "--user", user).result()["token"]
            added.result()
        server.people["xss"] = Account(
            created["id"], XSS_NAME, "xss@example.com", "Asia/Tokyo", token
        )
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class PageProblems:
    """What a page did that it must not: CSP violations, script errors, dialogs."""

    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@dataclass
class Browse:
    """Opens signed-in (or signed-out) pages and checks them for problems at the end."""

    browser: Any
    server: Server
    contexts: list[Any] = field(default_factory=list)
    problems: PageProblems = field(default_factory=PageProblems)

    def context(self, *, js: bool = True, state: Any = None, **options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = self.browser.new_context(
            base_url=self.server.base_url, java_script_enabled=js, storage_state=state, **options
        )
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context

    def page(self, who: str | None = None, *, js: bool = True, **options: Any) -> Any:
        """A page in a new context, signed in as `who` (through the form, once per person)."""
        state = self.state_of(who) if who else None
        page = self.context(js=js, state=state, **options).new_page()
        self.watch(page)
        return page

    def watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            # A 4xx page (a form error, a refused POST) is logged as a failed load;
            # that is the page working. Anything else is a problem (CSP, script errors).
            if message.type == "error" and not message.text.startswith(_CLIENT_ERROR_LOAD):
                self.problems.console_errors.append(f"{page.url}: {message.text}")

        def on_dialog(dialog: Any) -> None:
            self.problems.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.console_errors.append(str(error)))
        page.on("dialog", on_dialog)

    def state_of(self, who: str) -> Any:
        """Cookies of a browser signed in as `who` (signed in through the form once)."""
        if who not in self.server.signed_in:
            page = self.context(js=False).new_page()
            sign_in(page, self.server.people[who])
            page.wait_for_url(re.compile(r"/meetings"))
            self.server.signed_in[who] = page.context.storage_state()
        return self.server.signed_in[who]

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def sign_in(page: Any, account: Account) -> None:
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def browse(browser: Any, server: Server) -> Iterator[Browse]:
    session = Browse(browser, server)
    yield session
    session.close()
    assert not session.problems.dialogs, f"a page opened dialogs: {session.problems.dialogs}"
    assert not session.problems.console_errors, (
        f"console errors (CSP violations?): {session.problems.console_errors}"
    )


@pytest.fixture(scope="module")
def axe_source() -> str:
    require(
        AXE_JS.exists(),
        f"axe-core is missing at {AXE_JS.relative_to(REPO)}: run `npm ci --prefix tests/e2e`",
    )
    return AXE_JS.read_text()


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screenshots when MEETBOOK_UPDATE_SCREENSHOTS=1, else a temporary folder."""
    if os.environ.get("MEETBOOK_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def eventually(page: Any, check: Callable[[], bool], message: str, timeout: float = 10) -> None:
    """Poll `check`, waiting through Playwright so that its events keep arriving."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {message}")
