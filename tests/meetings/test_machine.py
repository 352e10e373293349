"""The transition table: every action × status × actor, its messages, and their precedence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meetbook.errors import Conflict, Forbidden
from meetbook.meetings.machine import ACTIONS, allowed_actions, effective_status, refusal
from meetbook.meetings.statuses import STATUSES
from meetbook.models import MEETING_SECONDS, Meeting
from tests.conftest import MovableClock, World, create_meeting, future

REQUESTER, RECIPIENT = 1, 2
START = 1_900_000_000
BEFORE, DURING, AFTER = START - 60, START + 60, START + MEETING_SECONDS + 60


def meeting(status: str) -> Meeting:
    return Meeting(
        id=1,
        booking_number="MB-TEST",
        requester_id=REQUESTER,
        recipient_id=RECIPIENT,
        team_id=1,
        timezone="UTC",
        start_time=START,
        end_time=START + MEETING_SECONDS,
        status=status,
        sequence=0,
        updated_at=datetime.fromtimestamp(START - 86400, UTC),
    )


# What each participant gets for each user action, by stored status, before the start:
# "ok", 403 (not the awaited participant) or 409 (the status forbids it).
GRID = """
action   status     requester  recipient
confirm  pending    403        ok
confirm  confirmed  409        409
confirm  rejected   409        409
confirm  cancelled  409        409
confirm  expired    409        409
confirm  completed  409        409
reject   pending    403        ok
reject   confirmed  409        409
reject   rejected   409        409
reject   cancelled  409        409
reject   expired    409        409
reject   completed  409        409
cancel   pending    ok         ok
cancel   confirmed  ok         ok
cancel   rejected   409        409
cancel   cancelled  409        409
cancel   expired    409        409
cancel   completed  409        409
propose  pending    ok         ok
propose  confirmed  ok         ok
propose  rejected   409        409
propose  cancelled  409        409
propose  expired    409        409
propose  completed  409        409
accept   pending    409        409
accept   confirmed  409p       409p
accept   rejected   409        409
accept   cancelled  409        409
accept   expired    409        409
accept   completed  409        409
decline  pending    409        409
decline  confirmed  409p       409p
decline  rejected   409        409
decline  cancelled  409        409
decline  expired    409        409
decline  completed  409        409
"""
ROWS = [line.split() for line in GRID.strip().splitlines()[1:]]
CASES = [
    (action, status, actor, outcome)
    for action, status, *outcomes in ROWS
    for actor, outcome in zip(("requester", "recipient"), outcomes, strict=True)
]
VERBS = {
    "confirm": "confirmed",
    "reject": "rejected",
    "cancel": "cancelled",
    "propose": "moved to another time",
    "accept": "moved to another time",
    "decline": "answered",
}


def test_the_grid_covers_every_user_action_and_status() -> None:
    covered = {(action, status) for action, status, *_ in ROWS}
    user_actions = {name for name, a in ACTIONS.items() if a.who != "clock"}
    assert covered == {(a, s) for a in user_actions for s in STATUSES}


@pytest.mark.parametrize(("action", "status", "actor", "outcome"), CASES)
def test_every_action_status_and_actor(action: str, status: str, actor: str, outcome: str) -> None:
    actor_id = REQUESTER if actor == "requester" else RECIPIENT
    problem = refusal(ACTIONS[action], meeting(status), actor_id, BEFORE)  # type: ignore[index]
    if outcome == "ok":
        assert problem is None
    elif outcome == "403":
        assert isinstance(problem, Forbidden)
        assert problem.message == "You are not the one whose answer is awaited."
    elif outcome == "409p":  # a confirmed meeting without a proposal
        assert isinstance(problem, Conflict)
        assert problem.message == "The meeting has no proposed new time to answer."
    else:
        assert isinstance(problem, Conflict)
        assert problem.message == f"The meeting is {status}, so it cannot be {VERBS[action]}."


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_only_the_participant_asked_answers_a_proposal(action: str) -> None:
    proposed = meeting("confirmed")
    proposed.proposed_start, proposed.proposed_by = START + 7200, REQUESTER
    proposed.awaiting_user_id = RECIPIENT
    assert refusal(ACTIONS[action], proposed, RECIPIENT, BEFORE) is None  # type: ignore[index]
    problem = refusal(ACTIONS[action], proposed, REQUESTER, BEFORE)  # type: ignore[index]
    assert isinstance(problem, Forbidden)
    assert allowed_actions(proposed, REQUESTER, datetime.fromtimestamp(BEFORE, UTC)) == (
        "propose",
        "cancel",
    )
    assert allowed_actions(proposed, RECIPIENT, datetime.fromtimestamp(BEFORE, UTC)) == (
        "accept",
        "decline",
        "propose",
        "cancel",
    )


@pytest.mark.parametrize("actor_id", [REQUESTER, RECIPIENT])
def test_cancelling_a_started_confirmed_meeting_says_it_has_started(actor_id: int) -> None:
    problem = refusal(ACTIONS["cancel"], meeting("confirmed"), actor_id, DURING)
    assert isinstance(problem, Conflict)
    assert problem.message == "The meeting has started, so it can no longer be cancelled."


@pytest.mark.parametrize("action", ["confirm", "reject", "cancel"])
@pytest.mark.parametrize("actor_id", [REQUESTER, RECIPIENT])
def test_a_pending_meeting_past_its_start_is_expired_for_everyone(action, actor_id) -> None:
    problem = refusal(ACTIONS[action], meeting("pending"), actor_id, DURING)
    assert isinstance(problem, Conflict)
    assert problem.message == f"The meeting is expired, so it cannot be {VERBS[action]}."


def test_a_confirmed_meeting_past_its_end_is_completed() -> None:
    problem = refusal(ACTIONS["cancel"], meeting("confirmed"), REQUESTER, AFTER)
    assert isinstance(problem, Conflict)
    assert problem.message == "The meeting is completed, so it cannot be cancelled."


# The clock's actions: what effective_status derives and materialise writes.
CLOCK = [
    # action, stored status, now, outcome
    ("expire", "pending", BEFORE, "The meeting has not started yet, so it cannot be expired."),
    ("expire", "pending", DURING, "ok"),
    ("expire", "pending", AFTER, "ok"),
    ("expire", "confirmed", AFTER, "The meeting is confirmed, so it cannot be expired."),
    ("complete", "confirmed", BEFORE, "The meeting has not ended yet, so it cannot be completed."),
    ("complete", "confirmed", DURING, "The meeting has not ended yet, so it cannot be completed."),
    ("complete", "confirmed", AFTER, "ok"),
    ("complete", "pending", AFTER, "The meeting is pending, so it cannot be completed."),
]


@pytest.mark.parametrize(("action", "status", "now", "outcome"), CLOCK)
def test_the_clocks_actions(action: str, status: str, now: int, outcome: str) -> None:
    problem = refusal(ACTIONS[action], meeting(status), None, now)  # type: ignore[index]
    if outcome == "ok":
        assert problem is None
    else:
        assert isinstance(problem, Conflict)
        assert problem.message == outcome


@pytest.mark.parametrize("action", ["expire", "complete"])
@pytest.mark.parametrize("actor_id", [REQUESTER, RECIPIENT])
def test_no_participant_may_take_the_clocks_actions(action: str, actor_id: int) -> None:
    status = "pending" if action == "expire" else "confirmed"
    problem = refusal(ACTIONS[action], meeting(status), actor_id, AFTER)  # type: ignore[index]
    assert isinstance(problem, Forbidden)


@pytest.mark.parametrize(
    ("stored", "now", "seen"),
    [
        ("pending", BEFORE, "pending"),
        ("pending", DURING, "expired"),
        ("confirmed", DURING, "confirmed"),
        ("confirmed", AFTER, "completed"),
        ("cancelled", AFTER, "cancelled"),
        ("expired", AFTER, "expired"),
    ],
)
def test_effective_status_applies_the_clocks_rows(stored: str, now: int, seen: str) -> None:
    assert effective_status(meeting(stored), now) == seen


OFFERED = [
    # stored status, now, viewer, the buttons offered
    ("pending", BEFORE, RECIPIENT, ("confirm", "reject", "propose")),  # Reject, not Cancel
    ("pending", BEFORE, REQUESTER, ("propose", "cancel")),
    ("confirmed", BEFORE, RECIPIENT, ("propose", "cancel")),
    ("confirmed", BEFORE, REQUESTER, ("propose", "cancel")),
    ("confirmed", DURING, REQUESTER, ()),
    ("pending", DURING, RECIPIENT, ()),
    ("rejected", BEFORE, REQUESTER, ()),
    ("cancelled", BEFORE, RECIPIENT, ()),
]


@pytest.mark.parametrize(("status", "now", "viewer", "offered"), OFFERED)
def test_allowed_actions_are_what_the_page_offers(status, now, viewer, offered) -> None:
    moment = datetime.fromtimestamp(now, UTC)
    assert allowed_actions(meeting(status), viewer, moment) == offered


# Over HTTP: the machine's messages, in the right order -------------------------------


@pytest.fixture
async def trio(world: World):
    requester = await world.person("Rita")
    recipient = await world.person("Carl")
    team_id = await world.team(requester, recipient)
    return requester, recipient, team_id


async def _meeting(client, trio, clock, *, days=7, hour=10) -> int:
    requester, recipient, team_id = trio
    response = await create_meeting(
        client, requester, recipient, team_id, future(clock, days, hour)
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_cancelling_a_confirmed_meeting_that_started_is_409_has_started(
    client, trio, clock: MovableClock
) -> None:
    requester, recipient, _ = trio
    meeting_id = await _meeting(client, trio, clock, days=1)
    await client.post(f"/api/v3/meeting/{meeting_id}/confirm", headers=recipient.auth)
    start = (await client.get(f"/api/v3/meeting/{meeting_id}", headers=requester.auth)).json()
    clock.now = datetime.fromtimestamp(start["start_time"] + 600, UTC)
    response = await client.post(f"/api/v3/meeting/{meeting_id}/cancel", headers=requester.auth)
    assert response.status_code == 409
    assert response.json() == {
        "error": 409,
        "message": "The meeting has started, so it can no longer be cancelled.",
    }


async def test_confirming_a_rejected_meeting_whose_slot_is_taken_names_rejected(
    client, world: World, trio, clock
) -> None:
    _requester, recipient, _team_id = trio
    rejected = await _meeting(client, trio, clock)
    await client.post(f"/api/v3/meeting/{rejected}/reject", headers=recipient.auth)
    third = await world.person()
    other_team = await world.team(third, recipient)
    busy = await create_meeting(client, third, recipient, other_team, future(clock, 7, 10))
    await client.post(f"/api/v3/meeting/{busy.json()['id']}/confirm", headers=recipient.auth)
    response = await client.post(f"/api/v3/meeting/{rejected}/confirm", headers=recipient.auth)
    assert response.status_code == 409
    assert response.json()["message"] == "The meeting is rejected, so it cannot be confirmed."


async def test_the_other_participant_confirming_is_403(client, trio, clock) -> None:
    requester, _, _ = trio
    meeting_id = await _meeting(client, trio, clock)
    for action in ("confirm", "reject"):
        response = await client.post(
            f"/api/v3/meeting/{meeting_id}/{action}", headers=requester.auth
        )
        assert response.status_code == 403
        assert response.json()["message"] == "You are not the one whose answer is awaited."


async def test_a_non_participant_gets_404_for_every_action(
    client, world: World, trio, clock
) -> None:
    meeting_id = await _meeting(client, trio, clock)
    stranger = await world.person()
    for action in ("confirm", "reject", "cancel"):
        response = await client.post(
            f"/api/v3/meeting/{meeting_id}/{action}", headers=stranger.auth
        )
        assert response.status_code == 404


async def test_create_over_someone_elses_meeting_says_only_that_the_recipient_is_busy(
    client, world: World, trio, clock
) -> None:
    requester, recipient, team_id = trio
    third = await world.person()
    other_team = await world.team(third, recipient)
    theirs = (await create_meeting(client, third, recipient, other_team, future(clock))).json()
    await client.post(f"/api/v3/meeting/{theirs['id']}/confirm", headers=recipient.auth)
    clash = await create_meeting(client, requester, recipient, team_id, future(clock))
    assert clash.status_code == 409
    assert clash.json()["message"] == (
        "That time slot is taken: the recipient already has a confirmed meeting overlapping it."
    )
    # The one who takes part in the confirmed meeting is told which one it is, in UTC.
    again = await create_meeting(client, third, recipient, other_team, future(clock))
    assert again.status_code == 409
    assert again.json()["message"] == (
        f"That time slot is taken by your confirmed meeting {theirs['booking_number']} "
        f"({theirs['booking_date'][:16]} UTC)."
    )


async def test_confirm_over_your_own_meeting_names_it_and_over_theirs_does_not(
    client, world: World, trio, clock
) -> None:
    requester, recipient, team_id = trio
    third = await world.person()
    with_requester = await world.team(third, requester)
    with_recipient = await world.team(third, recipient)
    theirs = (await create_meeting(client, third, requester, with_requester, future(clock))).json()
    await client.post(f"/api/v3/meeting/{theirs['id']}/confirm", headers=requester.auth)
    pending = (await create_meeting(client, requester, recipient, team_id, future(clock))).json()
    refused = await client.post(f"/api/v3/meeting/{pending['id']}/confirm", headers=recipient.auth)
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        "That time slot is taken: the requester already has a confirmed meeting overlapping it."
    )
    # The recipient's own confirmed meeting at that time is named to them.
    later = future(clock, 8, 10)
    waiting = (await create_meeting(client, requester, recipient, team_id, later)).json()
    own = (await create_meeting(client, third, recipient, with_recipient, later)).json()
    await client.post(f"/api/v3/meeting/{own['id']}/confirm", headers=recipient.auth)
    clash = await client.post(f"/api/v3/meeting/{waiting['id']}/confirm", headers=recipient.auth)
    assert clash.status_code == 409
    assert clash.json()["message"] == (
        f"That time slot is taken by your confirmed meeting {own['booking_number']} "
        f"({own['booking_date'][:16]} UTC)."
    )
