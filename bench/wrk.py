"""Running wrk with bench/lua/bench.lua and reading its one-line JSON summary."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).parent / "lua" / "bench.lua"
INSTALL_HINT = (
    "wrk is not installed. On Debian/Ubuntu: `sudo apt-get install -y wrk` "
    "(the bench uses wrk 4.x with its LuaJIT scripting)."
)


def wrk_path() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    statuses: dict[str, int]
    first_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        """Responses with a 2xx or 3xx status: the requests that did what was asked."""
        return sum(n for code, n in self.statuses.items() if code[:1] in ("2", "3"))

    @property
    def rps(self) -> float:
        """Successful requests per second (errors do not count as throughput)."""
        return self.ok / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "duration_s": self.duration_s,
            "rps": self.rps,
            "errors": self.errors,
            "latency_ms": self.latency_ms,
            "statuses": self.statuses,
            "first_errors": self.first_errors,
        }


def run_wrk(
    base_url: str,
    *,
    mode: str,
    data: Path,
    path: str,
    connections: int,
    duration: float,
    offset: int = 0,
    date_base: int = 0,
    threads: int = 1,
    timeout_s: int = 10,
) -> WrkResult:
    """One closed-loop wrk run; `mode` is "create" or "requests" (see bench.lua)."""
    command = [
        wrk_path() or "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout_s}s",
        "-s",
        str(LUA),
        base_url,
        "--",
        mode,
        str(data),
        path,
        str(offset),
        str(date_base),
        str(threads),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + timeout_s + 60, check=False
    )
    summary = None
    first_errors = []
    for line in done.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            summary = json.loads(line.removeprefix("BENCHJSON "))
        elif line.startswith("BENCHERR "):
            first_errors.append(line.removeprefix("BENCHERR ")[:300])
    if summary is None:
        raise RuntimeError(f"wrk gave no summary: {done.stdout[-500:]} {done.stderr[-500:]}")
    latency = {k: v / 1000 for k, v in summary["latency_us"].items()}
    return WrkResult(
        requests=summary["requests"],
        duration_s=summary["duration_us"] / 1e6,
        errors=summary["errors"],
        latency_ms=latency,
        statuses=summary["statuses"],
        first_errors=first_errors,
    )
