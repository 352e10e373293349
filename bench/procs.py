"""Server processes under test: start, wait until healthy, measure (RSS, CPU), stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(x) for x in task.read_text().split())
        except OSError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_bytes(pid: int) -> int:
    """VmRSS of `pid`, 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of `pids` (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def cpu_by_pid(pids: Sequence[int]) -> dict[int, float]:
    return {pid: cpu_seconds([pid]) for pid in pids}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots by the processes present in both."""
    return sum(max(0.0, after[pid] - before[pid]) for pid in before.keys() & after.keys())


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


@dataclass
class Server:
    """One server under test: a uvicorn parent and, with --workers N > 1, N children."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    cwd: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: object = None

    def start(self, timeout: float = 180.0) -> None:
        log = self.log_path.open("ab")
        self._log = log
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start-up; see {self.log_path}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200 and self._workers_ready():
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.name} did not become healthy in {timeout:.0f} s")

    def _workers_ready(self) -> bool:
        # With several workers, /healthz answers as soon as one is up; wait for all.
        expected = self._expected_workers()
        return len(self.api_pids()) >= expected

    def _expected_workers(self) -> int:
        if "--workers" in self.command:
            return max(1, int(self.command[self.command.index("--workers") + 1]))
        return 1

    def api_pids(self) -> list[int]:
        """The processes that serve requests: the workers, or the lone process."""
        assert self.process is not None
        children = [
            pid for pid in _children(self.process.pid) if "resource_tracker" not in _cmdline(pid)
        ]
        return children or [self.process.pid]

    def all_pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *_children(self.process.pid)]

    def parent_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                for pid in self.all_pids():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.process = None


@dataclass
class RssSampler:
    """Samples VmRSS of a server's processes every `interval` seconds in a thread."""

    server: Server
    interval: float = 0.5
    samples: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while True:
            self.sample(time.monotonic() - started)
            if self._stop.wait(self.interval):
                self.sample(time.monotonic() - started)
                return

    def sample(self, at: float) -> None:
        self.samples.append((at, {pid: rss_bytes(pid) for pid in self.server.api_pids()}))

    def max_per_process(self) -> int:
        return max((max(s.values(), default=0) for _, s in self.samples), default=0)

    def parent_rss(self) -> int:
        return rss_bytes(self.server.parent_pid())


@dataclass
class PgWaitSampler:
    """Counts what the database's active sessions wait on, once a second (via psql).

    `Lock:object` is the database-wide lock PostgreSQL takes to serialize the commits
    of transactions that sent a NOTIFY; `IO:WALSync` is the commit's fsync; `CPU` is an
    active session waiting on nothing.
    """

    database: str
    interval: float = 1.0
    counts: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    QUERY = (
        "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU'), count(*) "
        "FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
        "AND pid <> pg_backend_pid() GROUP BY 1"
    )

    def __enter__(self) -> PgWaitSampler:
        if shutil.which("psql"):
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                out = subprocess.run(
                    [
                        "psql",
                        "-h",
                        "127.0.0.1",
                        "-U",
                        "postgres",
                        "-d",
                        self.database,
                        "-AtF",
                        "\t",
                        "-c",
                        self.QUERY,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=5,
                    check=False,
                ).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            self.samples += 1
            for line in out.splitlines():
                event, _, count = line.rpartition("\t")
                if event:
                    self.counts[event] = self.counts.get(event, 0) + int(count)

    def mean_waiting(self) -> dict[str, float]:
        """Average number of sessions in each wait state per sample."""
        return (
            {k: round(v / self.samples, 2) for k, v in self.counts.items()} if self.samples else {}
        )
