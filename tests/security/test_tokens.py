"""Bearer tokens: stored only as SHA-256 digests, refused at once when revoked.

Review notes (auth/tokens.py): tokens are `mb_` + 32 random bytes (secrets.token_urlsafe),
looked up by the SHA-256 digest through a unique index, then compared again with
hmac.compare_digest. An attacker cannot steer a digest's prefix without a preimage, so
the index lookup's timing says nothing useful; compare_digest is defence in depth.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select, text

from meetbook.models import ApiToken, Base
from tests.conftest import World
from tests.test_errors import assert_envelope

PASSWORD = "correct horse battery staple"


async def _every_stored_value(sessionmaker: Any) -> list[str]:
    values: list[str] = []
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.execute(text(f"SELECT * FROM {table.name}"))
            values.extend(str(value) for row in rows for value in row)
    return values


async def test_the_database_never_holds_a_plain_token_or_password(
    client, world: World, sessionmaker
) -> None:
    ana = await world.person(password=PASSWORD)
    issued = await client.post(
        "/api/v3/auth/token", json={"email": ana.email, "password": PASSWORD, "name": "laptop"}
    )
    assert issued.status_code == 201
    token = issued.json()["token"]
    assert token.startswith("mb_") and len(token) >= 40
    assert (await client.get("/api/v3/me", headers={"Authorization": f"Bearer {token}"})).is_success

    stored = await _every_stored_value(sessionmaker)
    for secret in (token, ana.token, PASSWORD, token.removeprefix("mb_")):
        assert not any(secret in value for value in stored), "a secret is stored in clear"
    async with sessionmaker() as session:
        digests = set((await session.scalars(select(ApiToken.token_hash))).all())
        hashes = [v for v in stored if v.startswith("$argon2")]
    assert hashlib.sha256(token.encode()).hexdigest() in digests
    assert len(hashes) == 1  # the password, as an Argon2 hash


async def test_a_revoked_token_is_refused_at_once(client, world: World) -> None:
    ana = await world.person(password=PASSWORD)
    token = (
        await client.post("/api/v3/auth/token", json={"email": ana.email, "password": PASSWORD})
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v3/me", headers=auth)).status_code == 200
    assert (await client.delete("/api/v3/auth/token", headers=auth)).status_code == 204
    # The very next request, on every kind of route, and revoking twice.
    for method, path in [
        ("GET", "/api/v3/me"),
        ("GET", "/api/v3/meeting/list"),
        ("POST", "/api/v3/meeting/create"),
        ("DELETE", "/api/v3/auth/token"),
    ]:
        response = await client.request(method, path, headers=auth)
        assert_envelope(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    # Other tokens of the same person are untouched.
    assert (await client.get("/api/v3/me", headers=ana.auth)).status_code == 200


async def test_a_token_is_useless_after_a_character_changes(client, world: World) -> None:
    ana = await world.person()
    tampered = ana.token[:-1] + ("A" if ana.token[-1] != "A" else "B")
    # (Surrounding spaces are not in the list: they are not part of the credential.)
    for value in (tampered, ana.token.upper(), ana.token[:-1], ana.token + "x", ana.token[3:]):
        response = await client.get("/api/v3/me", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401, value


async def test_the_digest_is_not_a_credential(client, world: World, sessionmaker) -> None:
    # A leaked database gives digests; presenting one must not authenticate.
    ana = await world.person()
    digest = hashlib.sha256(ana.token.encode()).hexdigest()
    for value in (digest, "mb_" + digest):
        response = await client.get("/api/v3/me", headers={"Authorization": f"Bearer {value}"})
        assert_envelope(response, 401)
