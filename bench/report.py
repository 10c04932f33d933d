#!/usr/bin/env python3
"""Writes BENCHMARKS.md (to stdout) from the results bench/run.sh left in
target/criterion, with the machine's facts and the exact command. Every figure comes
from the run; nothing is typed in."""

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"


def rate(group: str, name: str) -> tuple[float, float, int]:
    """Elements per second, mean time per iteration (ms) and elements per iteration of
    a criterion benchmark."""
    d = CRITERION / group / name / "new"
    mean_ns = json.loads((d / "estimates.json").read_text())["mean"]["point_estimate"]
    elements = json.loads((d / "benchmark.json").read_text())["throughput"]["Elements"]
    return elements / (mean_ns / 1e9), mean_ns / 1e6, elements


def machine() -> list[str]:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem_kb / 1024 / 1024:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- {rustc}; commit {commit}",
        f"- measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
    ]


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "bench/run.sh"
    pv, pv_ms, pv_n = rate("attribution", "pageviews")
    norm, norm_ms, _ = rate("attribution", "pageviews_normalise_only")
    sr, sr_ms, sr_n = rate("attribution", "searches")
    met = "met" if pv >= 1_000_000 else "**not met**"
    print(f"""# Luister benchmarks

Written by `{command.strip()}` from what it measured; do not edit by hand.

## Machine

{chr(10).join(machine())}

## Targets (issue 7)

| # | what | target | measured | status |
|---|---|---|---|---|
| 1 | collector, single events, against nginx | ≥ 50% of nginx's rate; p99 < 20 ms at 70% | — | not measured yet |
| 2 | collector, batched, against kcat | ≥ 80% of kcat | — | not measured yet |
| 3 | processor, against kcat → clickhouse-client | ≥ 70% of the plain pipe | — | not measured yet |
| 4 | attribution, page views per second per core | ≥ 1,000,000 | {pv:,.0f} | {met} |
| 5 | API, p95 of the weekly-review queries | < 100 ms | — | not measured yet |
| 6 | peak memory: ingest / processor | < 100 MB / < 512 MB | — | not measured yet |
| 7 | end-to-end freshness, p99 at 50% load | < 5 s | — | not measured yet |

## 4. Theme attribution

The default taxonomy classifying realistic municipal traffic from `luister-loadgen`
(seed 42): {pv_n:,} page views (URL and title) and {sr_n:,} site searches, on one
core (criterion, `processor/benches/attribution.rs`). Baseline in the same run: folding
the same page texts only (lowercase, accents off), the least any attribution does.

| input | per second, one core | time per batch | against the baseline |
|---|---|---|---|
| page views (classify) | {pv:,.0f} | {pv_ms:.1f} ms / {pv_n:,} | {pv / norm:.2f} × |
| page views (fold only: baseline) | {norm:,.0f} | {norm_ms:.1f} ms / {pv_n:,} | 1.00 × |
| site searches (classify) | {sr:,.0f} | {sr_ms:.1f} ms / {sr_n:,} | |

Command: `cargo bench -p luister-processor --bench attribution` (from `{command.strip()}`).
""")


if __name__ == "__main__":
    main()
