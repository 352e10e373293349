"""The results table (console and Markdown) and the throughput / p99 plot."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

MB = 1024 * 1024


def median_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (backend, route, concurrency): the median repeat by requests/s."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        groups[(point["backend"], point["route"], point["connections"])].append(point)
    rows = []
    for runs in groups.values():
        runs = sorted(runs, key=lambda p: p["rps"])
        row = dict(runs[len(runs) // 2])
        row["repeats"] = len(runs)
        row["rps_all"] = [round(p["rps"], 1) for p in runs]
        rows.append(row)
    ceilings = {(r["backend"], r["connections"]): r["rps"] for r in rows if r["route"] == "ceiling"}
    for row in rows:
        ceiling = ceilings.get((row["backend"], row["connections"]))
        row["ratio"] = row["rps"] / ceiling if ceiling else None
    return rows


def _fmt(row: dict[str, Any]) -> list[str]:
    lat = row["latency_ms"]
    ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "–"
    cpu = row.get("app_cpu_ms_per_request")
    return [
        row["backend"],
        row["route"],
        str(row["connections"]),
        f"{row['rps']:.0f}",
        f"{lat['p50']:.1f}",
        f"{lat['p95']:.1f}",
        f"{lat['p99']:.1f}",
        str(row["errors"]),
        f"{row['rss_max_bytes'] / MB:.0f}",
        ratio,
        f"{cpu:.2f}" if cpu is not None else "–",
        f"{row.get('load_avg', 0):.1f}",
    ]


HEADER = [
    "backend",
    "route",
    "conns",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "RSS/proc MB",
    "× ceiling",
    "app CPU ms/req",
    "load avg",
]


def console_table(rows: list[dict[str, Any]]) -> str:
    cells = [HEADER] + [_fmt(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = []
    for n, cell in enumerate(cells):
        lines.append(
            "  ".join(
                v.rjust(w) if i > 1 else v.ljust(w)
                for i, (v, w) in enumerate(zip(cell, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row)) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """Throughput, p99 and API CPU per request against concurrency, per backend, for the
    routes measured at several concurrencies. Needs matplotlib (the `bench` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import ScalarFormatter
    except ImportError:
        return None
    backends = sorted({r["backend"] for r in rows})
    panels = (
        ("throughput", "successful requests/s", lambda r: r["rps"], False),
        ("p99 latency", "ms (log)", lambda r: r["latency_ms"]["p99"], True),
        (
            "API CPU per request",
            "ms of API-process CPU",
            lambda r: r["app_cpu_ms_per_request"],
            False,
        ),
    )
    fig, axes = plt.subplots(
        len(panels), len(backends), figsize=(6.5 * len(backends), 11), squeeze=False
    )
    for col, backend in enumerate(backends):
        mine = [r for r in rows if r["backend"] == backend]
        routes = sorted({r["route"] for r in mine})
        swept = [
            route
            for route in routes
            if len({r["connections"] for r in mine if r["route"] == route}) > 1
        ]
        xs_all = sorted({r["connections"] for r in mine if r["route"] in swept})
        for row_index, (title, unit, value, log_y) in enumerate(panels):
            ax = axes[row_index][col]
            for route in swept:
                series = sorted(
                    (r for r in mine if r["route"] == route), key=lambda r: r["connections"]
                )
                style = {"linestyle": "--", "color": "black"} if route == "ceiling" else {}
                ax.plot(
                    [r["connections"] for r in series],
                    [value(r) for r in series],
                    marker="o",
                    label=route,
                    **style,
                )
            ax.set_title(f"{backend}: {title}")
            ax.set_ylabel(unit)
            if log_y:
                ax.set_yscale("log")
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs_all)
            ax.get_xaxis().set_major_formatter(ScalarFormatter())
            ax.set_xlabel("connections (wrk, closed loop)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def summarize_soak(samples: list[tuple[float, dict[int, int]]]) -> dict[str, Any]:
    """RSS at the start and end of a long run, per process, and the growth between."""
    if not samples:
        return {}
    pids = sorted({pid for _, s in samples for pid in s})
    out: dict[str, Any] = {"processes": []}
    for pid in pids:
        series = [(t, s[pid]) for t, s in samples if s.get(pid)]
        if len(series) < 4:
            continue
        quarter = max(1, len(series) // 4)
        # Compare the second quarter with the last (the first includes warm-up).
        early = statistics.median(v for _, v in series[quarter : 2 * quarter])
        late = statistics.median(v for _, v in series[-quarter:])
        out["processes"].append(
            {
                "pid": pid,
                "first_mb": series[0][1] / MB,
                "early_mb": early / MB,
                "late_mb": late / MB,
                "max_mb": max(v for _, v in series) / MB,
                "growth_mb": (late - early) / MB,
            }
        )
    return out


if __name__ == "__main__":
    import json
    import sys

    # Re-plot a finished run: python -m bench.report results.json out.png
    data = json.loads(Path(sys.argv[1]).read_text())
    print(plot(data["rows"], Path(sys.argv[2])))
