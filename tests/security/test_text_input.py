"""Control and invisible characters: one rule (meetbook/text.py) on every path.

Table-driven: every human-text field of the API, the web forms and the CLI, each with
every hostile character below, on SQLite and PostgreSQL. Before the rule, PATCH /me took
C1 controls and bidi overrides in names and POST /settings/tokens stored NUL (a false
503 on PostgreSQL), BEL and ESC.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from meetbook import cli
from meetbook.models import ApiToken, Team, User
from meetbook.text import TextProblem, clean_line, clean_text, hostile_character
from tests.conftest import MovableClock, Person, World, create_meeting, future
from tests.test_errors import assert_envelope
from tests.web.conftest import csrf_of

PASSWORD = "tangerine-orbit-42-velvet"

HOSTILE = {
    "NUL": "\x00",
    "BEL": "\x07",
    "ESC": "\x1b",
    "unit separator": "\x1f",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "C1 CSI": "\x9b",
    "LRE": "\u202a",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "PDI": "\u2069",
    "LRM": "\u200e",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "zero-width space": "\u200b",
    "lone ZWJ": "\u200d",
    "word joiner": "\u2060",
    "BOM": "\ufeff",
    "soft hyphen": "\u00ad",
    "line separator": "\u2028",
    "noncharacter FDD0": "\ufdd0",
    "noncharacter FFFE": "\ufffe",
    "noncharacter 10FFFF": "\U0010ffff",
}
# Lone surrogates can only arrive through JSON escapes (no form or argv can carry them).
JSON_ONLY = {"lone surrogate": "\ud800"}


def sample(char: str) -> str:
    # In the middle, after a space-free word: trimming cannot remove it.
    return f"Eve{char}Smith"


async def send_json(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    # json.dumps escapes to ASCII, so a lone surrogate travels as \ud800 (httpx's own
    # encoder cannot write it).
    return await client.request(
        method,
        url,
        content=json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
    )


def refusal_names_field(response: httpx.Response, field: str) -> None:
    body = assert_envelope(response, 400)
    assert field in body["message"]
    assert "control characters or invisible characters" in body["message"]


# The rule itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "char", [*HOSTILE.values(), *JSON_ONLY.values()], ids=[*HOSTILE, *JSON_ONLY]
)
def test_every_hostile_character_is_refused_by_both_validators(char: str) -> None:
    assert hostile_character(sample(char)) is not None
    with pytest.raises(Exception, match="control characters or invisible") as caught:
        clean_line(sample(char), "name", 200)
    assert "name" in str(caught.value)
    if char not in "\n\t":
        with pytest.raises(Exception, match="control characters or invisible"):
            clean_text(sample(char), "reason", 500)


@pytest.mark.parametrize(
    "text",
    [
        "Zoë Ångström",
        "李小龍",
        "محمد\u200cرضا",  # Persian: the zero-width non-joiner is part of the spelling
        "👩\u200d💻 Dev",  # an emoji ZWJ sequence
        "O\u2019Brien",
        "José\u00a0María",
    ],
)
def test_real_names_pass(text: str) -> None:
    assert clean_line(text, "name", 200) == unicodedata.normalize("NFC", text)


def test_lines_are_normalised_trimmed_and_counted_after_that() -> None:
    assert clean_line("  Jose\u0301  ", "name", 200) == "Jos\u00e9"
    assert len(clean_line("e\u0301" * 200, "name", 200)) == 200  # 400 code points in
    with pytest.raises(Exception, match="at most 200"):
        clean_line("x" * 201, "name", 200)
    with pytest.raises(Exception, match="must not be empty"):
        clean_line("   ", "name", 200)
    with pytest.raises(Exception, match="control"):
        clean_line("two\tcolumns", "name", 200)


def test_text_keeps_line_breaks_and_tabs() -> None:
    assert clean_text(" Sorry,\r\nI am away.\tBack\rsoon. ", "reason", 500) == (
        "Sorry,\nI am away.\tBack\nsoon."
    )
    assert isinstance(TextProblem("x"), ValueError)


# API ---------------------------------------------------------------------------------

ALL_API = {**HOSTILE, **JSON_ONLY}


async def test_patch_me_name(client: httpx.AsyncClient, world: World) -> None:
    eve = await world.person("Eve")
    for label, char in ALL_API.items():
        response = await send_json(
            client, "PATCH", "/api/v3/me", {"name": sample(char)}, **eve.auth
        )
        assert response.status_code == 400, label
        refusal_names_field(response, "name")
    me = (await client.get("/api/v3/me", headers=eve.auth)).json()
    assert me["name"] == "Eve"
    ok = await client.patch("/api/v3/me", json={"name": "  Zoë\u0308x  "}, headers=eve.auth)
    assert ok.status_code == 200 and ok.json()["name"] == unicodedata.normalize("NFC", "Zoë\u0308x")


async def test_auth_token_name(client: httpx.AsyncClient, world: World, app: Any) -> None:
    eve = await world.person("Eve", password=PASSWORD)
    for label, char in ALL_API.items():
        await app.state.rate_limiter.reset()
        body = {"email": eve.email, "password": PASSWORD, "name": sample(char)}
        response = await send_json(client, "POST", "/api/v3/auth/token", body)
        assert response.status_code == 400, label
        refusal_names_field(response, "name")
    async with app.state.sessionmaker() as session:
        names = set(await session.scalars(select(ApiToken.name).where(ApiToken.user_id == eve.id)))
    assert names == {"test"}


@pytest.mark.parametrize("action", ["reject", "cancel"])
async def test_reject_and_cancel_reason(
    client: httpx.AsyncClient, world: World, clock: MovableClock, action: str
) -> None:
    ana, ben = await world.person(), await world.person()
    team = await world.team(ana, ben)
    created = await create_meeting(client, ana, ben, team, future(clock))
    meeting_id = created.json()["id"]
    for label, char in ALL_API.items():
        if char in "\n\t":
            continue
        url = f"/api/v3/meeting/{meeting_id}/{action}"
        response = await send_json(client, "POST", url, {"reason": f"Away{char}then"}, **ben.auth)
        assert response.status_code == 400, label
        refusal_names_field(response, "reason")
    meeting = (await client.get(f"/api/v3/meeting/{meeting_id}", headers=ben.auth)).json()
    assert meeting["status"] == "pending"
    done = await client.post(
        f"/api/v3/meeting/{meeting_id}/{action}",
        json={"reason": "Away that week.\n\tSorry!"},
        headers=ben.auth,
    )
    assert done.status_code == 200 and done.json()["reason"] == "Away that week.\n\tSorry!"


@pytest.mark.parametrize("field", ["title", "notes"])
async def test_meeting_title_and_notes(
    client: httpx.AsyncClient, world: World, clock: MovableClock, field: str
) -> None:
    ana, ben = await world.person(), await world.person()
    team = await world.team(ana, ben)
    for label, char in ALL_API.items():
        if field == "notes" and char in "\n\t":
            continue  # notes keep line breaks and tabs
        body = {"user_id": ben.id, "team_id": team, "date": future(clock), field: f"A{char}b"}
        response = await send_json(client, "POST", "/api/v3/meeting/create", body, **ana.auth)
        assert response.status_code == 400, label
        refusal_names_field(response, field)
    listed = await client.get("/api/v3/meeting/list", headers=ana.auth)
    assert listed.json()["data"] == []


async def test_meeting_link(client: httpx.AsyncClient, world: World, clock: MovableClock) -> None:
    ana, ben = await world.person(), await world.person()
    team = await world.team(ana, ben)
    for label, char in ALL_API.items():
        body = {
            "user_id": ben.id,
            "team_id": team,
            "date": future(clock),
            "link": f"https://meet.example/{char}x",
        }
        response = await send_json(client, "POST", "/api/v3/meeting/create", body, **ana.auth)
        body = assert_envelope(response, 400)
        assert "link" in body["message"], label


# Web forms ---------------------------------------------------------------------------


async def web_sign_in(client: httpx.AsyncClient, person: Person) -> str:
    page = await client.get("/login", headers={"Accept": "text/html"})
    response = await client.post(
        "/login",
        data={"email": person.email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 303, response.text
    return csrf_of((await client.get("/settings")).text)


async def test_settings_profile_name(client: httpx.AsyncClient, world: World) -> None:
    eve = await world.person("Eve", password=PASSWORD)
    csrf = await web_sign_in(client, eve)
    for label, char in HOSTILE.items():
        response = await client.post(
            "/settings/profile", data={"csrf_token": csrf, "name": sample(char), "timezone": ""}
        )
        assert response.status_code == 400, label
        assert (
            'id="name-error">Name must not contain control characters or invisible' in response.text
        )
    assert (await client.get("/api/v3/me", headers=eve.auth)).json()["name"] == "Eve"


async def test_settings_token_name(client: httpx.AsyncClient, world: World, app: Any) -> None:
    eve = await world.person("Eve", password=PASSWORD)
    csrf = await web_sign_in(client, eve)
    for label, char in HOSTILE.items():
        response = await client.post(
            "/settings/tokens", data={"csrf_token": csrf, "name": sample(char)}
        )
        # NUL used to reach PostgreSQL here and come back as a false 503.
        assert response.status_code == 400, label
        assert (
            'id="token-name-error">Token name must not contain control characters or invisible'
            in (response.text)
        )
    async with app.state.sessionmaker() as session:
        names = set(await session.scalars(select(ApiToken.name).where(ApiToken.user_id == eve.id)))
    assert names == {"test", "web session"}


async def test_reject_reason_form(
    client: httpx.AsyncClient, world: World, clock: MovableClock
) -> None:
    ana = await world.person()
    ben = await world.person("Ben", password=PASSWORD)
    team = await world.team(ana, ben)
    meeting_id = (await create_meeting(client, ana, ben, team, future(clock))).json()["id"]
    csrf = await web_sign_in(client, ben)
    for label, char in HOSTILE.items():
        response = await client.post(
            f"/meetings/{meeting_id}/reject",
            data={"csrf_token": csrf, "reason": f"Away{char}then"},
        )
        assert response.status_code == 303, label
        page = await client.get(response.headers["location"])
        assert "must not contain control characters or invisible characters" in page.text, label
    meeting = (await client.get(f"/api/v3/meeting/{meeting_id}", headers=ben.auth)).json()
    assert meeting["status"] == "pending"


async def test_request_form_link(
    client: httpx.AsyncClient, world: World, clock: MovableClock
) -> None:
    ana = await world.person("Ana", password=PASSWORD)
    ben = await world.person()
    team = await world.team(ana, ben)
    csrf = await web_sign_in(client, ana)
    for label, char in HOSTILE.items():
        data = {
            "csrf_token": csrf,
            "team_id": str(team),
            "user_id": str(ben.id),
            "date": future(clock),
            "link": f"https://meet.example/{char}x",
        }
        response = await client.post("/meetings/new", data=data)
        assert response.status_code == 400, label
        assert "absolute http or https URL" in response.text, label


# CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBOOK_DATABASE_URL", database_url)
    monkeypatch.setenv("MEETBOOK_SECRET_KEY", "cli-test-secret-" + "x" * 32)


@pytest.mark.parametrize("command", ["users create", "teams create", "tokens create"])
async def test_cli_names(
    cli_env: None, world: World, app: Any, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = await world.person("Owner")
    base = {
        "users create": ["users", "create", "--email", "cli-eve@example.com", "--name"],
        "teams create": ["teams", "create", "--name"],
        "tokens create": ["tokens", "create", "--user", str(owner.id), "--name"],
    }[command]
    for label, char in HOSTILE.items():
        # In-process: a real argv cannot even hold NUL, and one process per case would
        # take minutes.
        status = await _run_cli([*base, sample(char)])
        out, err = capsys.readouterr()
        assert status != 0, label
        assert out == ""
        assert err.count("\n") == 1 and "control characters or invisible characters" in err, (
            label,
            err,
        )
    async with app.state.sessionmaker() as session:
        assert not (await session.scalars(select(User).where(User.name.like("Eve%")))).all()
        assert not (await session.scalars(select(Team).where(Team.name.like("Eve%")))).all()
        tokens = await session.scalars(select(ApiToken.name).where(ApiToken.user_id == owner.id))
        assert set(tokens) == {"test"}
    assert await _run_cli([*base, "Zoë Ångström"]) == 0
    assert "id" in json.loads(capsys.readouterr().out)


async def _run_cli(argv: list[str]) -> int:
    # main() runs its own event loop; keep it off this test's loop.
    return await asyncio.to_thread(cli.main, argv)
