"""Weak secrets are refused: a short MEETBOOK_SECRET_KEY, short or guessable passwords."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from meetbook.auth.strength import MIN_PASSWORD_LENGTH, check_new_password, password_problem
from meetbook.config import Settings
from meetbook.demo import DEMO_PASSWORD
from meetbook.errors import BadRequest
from meetbook.models import User
from tests.conftest import World


@pytest.mark.parametrize("key", ["abc", "k" * 31])
def test_a_secret_key_under_32_characters_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(secret_key=key)


def test_a_32_character_secret_key_is_accepted() -> None:
    assert Settings(secret_key="k" * 32).resolved_secret_key() == "k" * 32


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("", "at least 10 characters"),
        ("Tr0ub4dor", "at least 10 characters"),
        ("password12", "This is a very common password."),
        ("demo-password", "similar to a commonly used password"),
        ("qwertyuiop", "common password"),
        ("1234567890", "too easy to guess"),
        ("aaaaaaaaaaaa", 'Repeats like "aaa" are easy to guess.'),
        ("ana.lima@example.com", "too easy to guess"),  # the account's own address
    ],
)
def test_weak_passwords_are_refused_with_the_checkers_advice(password: str, why: str) -> None:
    problem = password_problem(password, user_inputs=("ana.lima@example.com", "Ana Lima"))
    assert problem is not None and why in problem
    assert "\n" not in problem


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "quiet-lantern-harbour", DEMO_PASSWORD, "Zq8#pL2!vR9w"],
)
def test_strong_passwords_pass(password: str) -> None:
    assert password_problem(password) is None


def test_very_long_passwords_are_rated_without_error() -> None:
    assert password_problem("plum-orbit-cactus-" * 100) is None
    assert password_problem("a" * 5000) is not None


def test_the_error_is_a_400_naming_the_password() -> None:
    with pytest.raises(BadRequest) as caught:
        check_new_password("short")
    assert caught.value.status == 400
    assert (
        caught.value.message == f"Password must be at least {MIN_PASSWORD_LENGTH} characters long."
    )
    assert caught.value.details == [
        {
            "field": "password",
            "message": f"password must be at least {MIN_PASSWORD_LENGTH} characters long.",
        }
    ]


async def test_creating_an_account_with_a_weak_password_creates_nothing(
    world: World, sessionmaker
) -> None:
    with pytest.raises(BadRequest, match="too easy to guess"):
        await world.person("Weak Pat", password="password123")
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(User).where(User.name == "Weak Pat")
        )
    assert count == 0
    assert (await world.person("Strong Pat", password="quiet-lantern-harbour")).id
