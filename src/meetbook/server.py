"""Running meetbook: the API server (uvicorn) and the standalone worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import start_http_server
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from meetbook.config import Settings, load_settings
from meetbook.db import create_engine, create_sessionmaker
from meetbook.demo import DEMO_PASSWORD, ensure_demo_data, read_tokens, tokens_file, write_tokens
from meetbook.logs import configure_logging
from meetbook.metrics import remove_shared_directory, share_between_processes, worker_registry
from meetbook.migrate import upgrade
from meetbook.zones import TZDATA_VERSION

log = logging.getLogger("meetbook.server")

# How `serve` tells the API processes uvicorn starts whether to run the worker.
RUN_WORKER_ENV = "MEETBOOK_INTERNAL_RUN_WORKER"
# How long uvicorn's supervisor waits for a worker process to answer its health ping
# before killing and replacing it. uvicorn's default (5 s) is shorter than a worker's
# start-up (importing meetbook costs about 3 s of CPU) on a busy host: there, workers
# were killed before they could ever answer, in a loop, and the server never came up.
WORKER_HEALTHCHECK_SECONDS = 30
# Bounds on what slow or idle clients can hold (a body that trickles in is cut off by
# slowbody.py). Shared with bench/ceiling_app.py, so both stacks run under the same.
UVICORN_LIMITS: dict[str, Any] = {
    # An idle keep-alive connection is closed after this many seconds.
    "timeout_keep_alive": 5,
    # httptools with a deadline and a size cap for request headers (connlimits.py).
    "http": "meetbook.connlimits:BoundedHttpToolsProtocol",
    # Connections plus tasks per process; beyond it new requests get a 503 at once
    # instead of queueing for the database without bound.
    "limit_concurrency": 1000,
    # On shutdown, connections still open after this are closed.
    "timeout_graceful_shutdown": 15,
}


# The signals that stop the server (uvicorn's own handlers take these two).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[list[int]]:
    """Record SIGINT/SIGTERM instead of acting on them; yields what was received.

    For the stretch of start-up before uvicorn's handlers are in place (importing the
    app alone takes seconds of CPU). Python's own SIGINT handler raises
    KeyboardInterrupt wherever the main thread is: raised inside a finalizer or a
    weakref callback, both frequent while the app is imported, it is printed and
    dropped, and the server then came up and ran on as if never asked to stop.
    """
    received: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda sig, _frame: received.append(sig)) for sig in STOP_SIGNALS
    }
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Server(uvicorn.Server):
    """uvicorn's server, told of the stop signals that came before it listened."""

    def __init__(self, config: uvicorn.Config, received: list[int]) -> None:
        super().__init__(config)
        self.received_early = received

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            for sig in list(self.received_early):
                self.handle_exit(sig, None)
            yield


def _run_uvicorn(config: uvicorn.Config, received: list[int]) -> None:
    """uvicorn.run's single-process and multi-process paths, with the early signals."""
    if config.workers > 1:
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.signal_queue.extend(received)  # handled once its loop starts
        supervisor.run()
        return
    server = _Server(config, received)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def app_from_environment() -> FastAPI:
    """The uvicorn factory: settings from the environment."""
    from meetbook.app import create_app

    settings = load_settings()
    # With --workers N uvicorn spawns fresh interpreters that never ran serve(): without
    # this, their JSON logs (every meeting.*, notification.*, request error) were lost.
    configure_logging(settings.log_level)
    return create_app(settings, run_worker=os.environ.get(RUN_WORKER_ENV) == "1")


async def _demo(settings: Settings) -> str:
    engine = create_engine(settings)
    kept = tokens_file(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            team_id, people = await ensure_demo_data(session, read_tokens(kept))
    finally:
        await engine.dispose()
    write_tokens(kept, team_id, people)
    lines = [f"Demo team id {team_id}; every demo password is {DEMO_PASSWORD!r}."]
    for person in people:
        lines.append(
            f"  {person.name:<11} id={person.id:<3} {person.email:<20} {person.timezone:<17}"
            f" token: {person.token}"
        )
    lines.append(f"The demo tokens are kept in {kept.resolve()} and reused on restart.")
    return "\n".join(lines)


def per_process_limits_warning(settings: Settings, workers: int) -> str | None:
    """What to tell the operator when every API process keeps its own rate counters."""
    if workers <= 1 or not settings.rate_limit_storage.lower().startswith("memory://"):
        return None
    return (
        f"MEETBOOK_RATE_LIMIT_STORAGE is memory://, so each of the {workers} API processes "
        f"counts its own rate limits and every limit is in effect {workers} times higher; "
        "set it to a shared redis:// URL for limits that hold across processes."
    )


def serve(
    settings: Settings, *, host: str, port: int, workers: int, run_worker: bool, demo: bool
) -> None:
    configure_logging(settings.log_level)
    if "base_url" not in settings.model_fields_set:
        # Unset, the public address is where this server listens, so the links in emails
        # and the printed URL work for `serve --port 9000` too.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        shown_host = f"[{shown_host}]" if ":" in shown_host else shown_host
        settings = settings.model_copy(update={"base_url": f"http://{shown_host}:{port}"})
        os.environ["MEETBOOK_BASE_URL"] = settings.base_url
    upgrade(settings.database_url)
    if demo:
        print(asyncio.run(_demo(settings)), flush=True)
    # A stop asked for from here on is kept for uvicorn, which starts by importing the
    # app (seconds), and handled once it listens (_stop_signals_held).
    with _stop_signals_held() as received:
        print(
            f"meetbook is running at {settings.base_url} (listening on http://{host}:{port})",
            flush=True,
        )
        print(
            f"Sign in at {settings.base_url}/login; the API docs are at {settings.base_url}/docs",
            flush=True,
        )
        if settings.smtp_host is None:
            print(
                f"No SMTP host set: emails are kept at {settings.base_url}/dev/mailbox", flush=True
            )
        if warning := per_process_limits_warning(settings, workers):
            log.warning("ratelimit.per_process", extra={"workers": workers, "detail": warning})
            print(f"Warning: {warning}", flush=True)
        os.environ[RUN_WORKER_ENV] = "1" if run_worker else "0"
        # Before uvicorn spawns the processes: they must import prometheus_client with it set.
        shared_metrics = share_between_processes() if workers > 1 else None
        config = uvicorn.Config(
            "meetbook.server:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level=settings.log_level,
            access_log=False,
            proxy_headers=True,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **UVICORN_LIMITS,
        )
        _run_uvicorn(config, received)
    remove_shared_directory(shared_metrics)


def run_worker(settings: Settings, *, concurrency: int, metrics_port: int | None = None) -> None:
    from meetbook.notifications.worker import run_standalone

    configure_logging(settings.log_level)
    log.info("worker.starting", extra={"tzdata": TZDATA_VERSION, "concurrency": concurrency})
    upgrade(settings.database_url)
    if metrics_port is not None:
        # A thread beside the worker's event loop: scrapes never wait for a delivery.
        start_http_server(metrics_port, addr="127.0.0.1", registry=worker_registry())
    asyncio.run(run_standalone(settings, concurrency=concurrency))
