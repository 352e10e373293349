"""The in-process cache of bearer-token lookups (auth/tokencache.py): a hit sends no query,
and a revocation or a profile change made in this process takes effect at once; made
through another process, within the cache's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from meetbook.app import create_app
from meetbook.auth.tokencache import TokenCache
from meetbook.auth.tokens import KIND_SESSION, hash_token, lookup_token, user_for_token
from meetbook.models import ApiToken, User, utcnow
from tests.conftest import MovableClock, World, settings_for, statements
from tests.test_errors import assert_envelope


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def another_process(
    database_url: str, tmp_path: Path, clock: MovableClock, cache: TokenCache
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database, as a second API process would be."""
    app = create_app(settings_for(database_url, tmp_path), clock=clock)
    app.state.token_cache = cache
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as c:
            yield c


async def test_a_repeated_request_sends_no_query_for_its_token(client, app, world: World) -> None:
    ana = await world.person("Ana")
    assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200
    with statements(app) as sent:
        again = await client.get("/api/v3/me", headers=ana.auth)
    assert again.status_code == 200 and again.json()["name"] == "Ana"
    assert sent == []
    # A write request's lookup (its own short transaction) is saved too.
    with statements(app) as sent:
        patched = await client.patch("/api/v3/me", json={"name": "Ana B"}, headers=ana.auth)
    assert patched.status_code == 200
    assert not any("api_tokens" in s for s in sent), sent


async def test_with_the_cache_off_every_request_looks_its_token_up(
    database_url: str, tmp_path: Path, clock: MovableClock, world: World
) -> None:
    ana = await world.person("Ana")
    app = create_app(settings_for(database_url, tmp_path, token_cache_seconds=0), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meetbook.test") as c:
            assert (await c.get("/api/v3/me", headers=ana.auth)).status_code == 200
            with statements(app) as sent:
                assert (await c.get("/api/v3/me", headers=ana.auth)).status_code == 200
    assert any("api_tokens" in s for s in sent)


async def test_a_token_revoked_in_this_process_is_refused_at_once(client, world: World) -> None:
    ana = await world.person()
    assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200  # cached
    assert (await client.delete("/api/v3/auth/token", headers=ana.auth)).status_code == 204
    assert_envelope(await client.get("/api/v3/me", headers=ana.auth), 401)
    assert_envelope(await client.get("/api/v3/meeting/list", headers=ana.auth), 401)


async def test_a_profile_change_in_this_process_shows_at_once(client, world: World) -> None:
    ana = await world.person("Ana")
    assert (await client.get("/api/v3/me", headers=ana.auth)).json()["name"] == "Ana"
    await client.patch("/api/v3/me", json={"name": "Ana Lima"}, headers=ana.auth)
    assert (await client.get("/api/v3/me", headers=ana.auth)).json()["name"] == "Ana Lima"


async def test_a_token_revoked_in_another_process_stops_working_within_the_ttl(
    client, world: World, database_url: str, tmp_path: Path, clock: MovableClock
) -> None:
    ana = await world.person()
    monotonic = FakeMonotonic()
    cache = TokenCache(5.0, monotonic=monotonic)
    async with another_process(database_url, tmp_path, clock, cache) as other:
        assert (await other.get("/api/v3/me", headers=ana.auth)).status_code == 200
        # Revoked through the first app: the other process does not hear of it...
        assert (await client.delete("/api/v3/auth/token", headers=ana.auth)).status_code == 204
        assert_envelope(await client.get("/api/v3/me", headers=ana.auth), 401)
        monotonic.now += 4.9
        assert (await other.get("/api/v3/me", headers=ana.auth)).status_code == 200
        # ...until its entry is 5 seconds old.
        monotonic.now += 0.1
        assert_envelope(await other.get("/api/v3/me", headers=ana.auth), 401)
        monotonic.now += 60
        assert_envelope(await other.get("/api/v3/me", headers=ana.auth), 401)


async def test_hits_are_fresh_rows_and_expiry_is_checked_on_each(
    sessionmaker, world: World
) -> None:
    ana = await world.person("Ana")
    now = utcnow()
    async with sessionmaker() as session:
        found = await user_for_token(session, ana.token)
        assert found is not None
        found[1].expires_at = now + timedelta(minutes=1)
        cache = TokenCache(5.0)
        cache.put(hash_token(ana.token), *found, generation=cache.generation)
    first, second = cache.get(hash_token(ana.token), now), cache.get(hash_token(ana.token), now)
    assert first is not None and second is not None
    assert first[0] is not second[0] and first[1] is not second[1]
    assert (first[0].id, first[0].name, first[1].id) == (ana.id, "Ana", found[1].id)
    # Each request's rows can join its own session, as if loaded there.
    async with sessionmaker() as one, sessionmaker() as two:
        one.add_all(first)
        two.add_all(second)
        assert not one.dirty and not two.dirty
    assert cache.get(hash_token(ana.token), now + timedelta(minutes=1)) is None


async def test_a_lookup_that_raced_a_revocation_is_not_stored(sessionmaker, world: World) -> None:
    ana = await world.person()
    cache = TokenCache(5.0)
    cache.watch(sessionmaker)
    started = cache.generation
    async with sessionmaker() as session:
        found = await user_for_token(session, ana.token)
    assert found is not None
    async with sessionmaker() as session, session.begin():  # revoked meanwhile
        await session.execute(update(ApiToken).values(revoked_at=utcnow()))
    cache.put(hash_token(ana.token), *found, generation=started)
    assert cache.get(hash_token(ana.token), utcnow()) is None


async def test_recording_a_tokens_use_keeps_the_cache(sessionmaker, world: World) -> None:
    ana = await world.person()
    cache = TokenCache(5.0)
    cache.watch(sessionmaker)
    async with sessionmaker() as session:
        found = await lookup_token(sessionmaker, session, ana.token, cache=cache)
        await session.commit()  # wrote last_used_at, with the route's changes
    assert found is not None
    generation = cache.generation
    async with sessionmaker() as session:
        assert await lookup_token(sessionmaker, session, ana.token, cache=cache) is not None
        await session.commit()
    assert cache.generation == generation and cache.hits == 1
    async with sessionmaker() as session, session.begin():
        user = await session.get(User, ana.id)
        assert user is not None
        user.name = "Renamed"
    assert cache.generation == generation + 1
    assert cache.get(hash_token(ana.token), utcnow()) is None


async def test_web_sessions_are_never_cached(sessionmaker, world: World) -> None:
    ana = await world.person()
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(ApiToken).where(ApiToken.user_id == ana.id).values(kind=KIND_SESSION)
        )
    cache = TokenCache(5.0)
    async with sessionmaker() as session:
        found = await lookup_token(sessionmaker, session, ana.token, kind=KIND_SESSION, cache=cache)
        assert found is not None
        assert (await session.scalar(select(User.name).where(User.id == ana.id))) is not None
    assert cache.get(hash_token(ana.token), utcnow()) is None and cache.hits == 0
