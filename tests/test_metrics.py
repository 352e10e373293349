"""GET /metrics in one process: every counter per channel, HTTP requests by route template."""

from __future__ import annotations

import httpx

from meetbook.metrics import CHANNELS
from tests.conftest import World, create_meeting, future
from tests.metrics_text import parse, total, value

PIPELINE_COUNTERS = (
    "meetbook_notifications_sent_total",
    "meetbook_notifications_failed_total",
    "meetbook_notifications_retried_total",
)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_every_delivery_metric_has_a_series_for_every_channel(
    client: httpx.AsyncClient,
) -> None:
    samples = await scrape(client)
    for name in (*PIPELINE_COUNTERS, "meetbook_notification_delivery_seconds_count"):
        for channel in CHANNELS:
            assert (name, frozenset({("channel", channel)})) in samples, (name, channel)
    assert ("meetbook_notifications_queue_depth", frozenset()) in samples


async def test_http_requests_are_counted_and_timed_by_route_template_and_status(
    client: httpx.AsyncClient, world: World, clock
) -> None:
    ana, ben = await world.person("Ana"), await world.person("Ben")
    team_id = await world.team(ana, ben)
    before = await scrape(client)

    assert (await create_meeting(client, ana, ben, team_id, future(clock))).status_code == 201
    for missing in (987654, 987655, 987656):
        answer = await client.get(f"/api/v3/meeting/{missing}", headers=ana.auth)
        assert answer.status_code == 404
    for path in ("/no/such/page-1", "/no/such/page-2"):
        assert (await client.get(path)).status_code == 404
    too_big = await client.post("/api/v3/meeting/create", content=b"x" * 70_000, headers=ana.auth)
    assert too_big.status_code == 413
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    create = {"method": "POST", "route": "/api/v3/meeting/create"}
    details = {"method": "GET", "route": "/api/v3/meeting/{meeting_id}", "status": "404"}
    assert moved("meetbook_http_requests_total", **create, status="201") == 1
    assert moved("meetbook_http_requests_total", **details) == 3
    assert moved("meetbook_http_request_duration_seconds_count", **details) == 3
    assert moved("meetbook_http_request_duration_seconds_sum", **details) > 0
    # Refused by the body limit before routing, still labelled with the route it was for.
    assert moved("meetbook_http_requests_total", **create, status="413") == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert moved("meetbook_http_requests_total", **unmatched) == 2
    # No raw path (ids, unknown pages) ever becomes a label value.
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any("987654" in route or "page-1" in route for route in routes)
    # The scrape before this one was counted too.
    assert total(after, "meetbook_http_requests_total", route="/metrics", status="200") >= 1
