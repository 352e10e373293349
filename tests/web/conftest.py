"""Fixtures for the web page tests: the real app on a migrated SQLite file, over ASGI."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from meetbook.accounts import service as accounts
from meetbook.app import create_app
from meetbook.config import Settings
from meetbook.meetings import service as meetings
from meetbook.meetings.schemas import MeetingCreate
from meetbook.models import Meeting, User

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_serial = itertools.count(1)


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    email: str
    timezone: str | None


class World:
    """Builds people, teams and meetings straight through the services."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def person(
        self, name: str = "Ana Lima", timezone: str | None = "Europe/Lisbon"
    ) -> Person:
        email = f"person{next(_serial)}@example.com"
        async with self.app.state.sessionmaker() as session, session.begin():
            user = await accounts.create_user(
                session, name=name, email=email, timezone=timezone, password=PASSWORD
            )
            return Person(user.id, user.name, user.email, user.timezone)

    async def team(self, *people: Person, name: str = "Design") -> int:
        async with self.app.state.sessionmaker() as session, session.begin():
            team = await accounts.create_team(session, name)
            for person in people:
                await accounts.add_member(session, team.id, person.id)
            return team.id

    async def meeting(
        self,
        requester: Person,
        recipient: Person,
        team_id: int,
        *,
        days: float = 2,
        start: datetime | None = None,
    ) -> int:
        start = start or (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)
        async with self.app.state.sessionmaker() as session, session.begin():
            user = await session.get(User, requester.id)
            assert user is not None
            payload = MeetingCreate(user_id=recipient.id, team_id=team_id, date=start.isoformat())
            meeting = await meetings.create_meeting(session, user, payload, datetime.now(UTC))
            return meeting.id

    async def stored(self, meeting_id: int) -> Meeting:
        sessionmaker: async_sessionmaker[AsyncSession] = self.app.state.sessionmaker
        async with sessionmaker() as session:
            meeting = await session.get(Meeting, meeting_id)
            assert meeting is not None
            return meeting


SECRET_KEY = "test-secret-key-for-the-web-page"


def sqlite_settings(tmp: Path, base_url: str = "http://testserver", **extra: Any) -> Settings:
    """Settings for an app of a test's own, on a new SQLite file (migrate it first)."""
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp / 'web.db'}",
        base_url=base_url,
        secret_key=SECRET_KEY,
        **extra,
    )


@pytest_asyncio.fixture(scope="module")
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    """One app per module and backend (the shared `database_url`: SQLite and PostgreSQL).

    Every test makes its own people, so the app (and its engine) can outlive a test.
    """
    settings = Settings(
        database_url=database_url, base_url="http://testserver", secret_key=SECRET_KEY
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture
async def world(app: FastAPI) -> World:
    await app.state.rate_limiter.reset()
    return World(app)


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Accept": "text/html"}
    ) as http:
        yield http


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, person: Person, next_path: str = "/meetings") -> str:
    """Sign in through the form; returns the CSRF token of the signed-in session."""
    page = await client.get("/login", params={"next": next_path})
    response = await client.post(
        "/login",
        data={
            "email": person.email,
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": next_path,
        },
    )
    assert response.status_code == 303, response.text
    landing = await client.get(response.headers["location"])
    assert landing.status_code == 200
    return csrf_of(landing.text)
