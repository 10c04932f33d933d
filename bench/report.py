#!/usr/bin/env python3
"""Writes BENCHMARKS.md (to stdout) and bench/throughput-latency.svg from what
bench/run.sh measured: target/criterion (benchmark 4) and $LUISTER_HOME/bench/results.json
(the others, from bench/bench.py), with the machine's facts and the exact commands.
Every figure comes from the run; nothing is typed in.

    bench/report.py COMMAND
"""

import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRITERION = ROOT / "target" / "criterion"
RESULTS = Path(os.environ.get("LUISTER_HOME", ROOT / ".luister")) / "bench" / "results.json"
CHART = "bench/throughput-latency.svg"


def rate(group: str, name: str) -> tuple[float, float, int]:
    """Elements per second, mean time per iteration (ms) and elements per iteration of
    a criterion benchmark."""
    d = CRITERION / group / name / "new"
    mean_ns = json.loads((d / "estimates.json").read_text())["mean"]["point_estimate"]
    elements = json.loads((d / "benchmark.json").read_text())["throughput"]["Elements"]
    return elements / (mean_ns / 1e9), mean_ns / 1e6, elements


def tool_version(cmd: list[str], pattern: str = r"(.+)") -> str:
    """The first match of `pattern` in what `cmd` prints."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        return "?"
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1).strip() if m else "?"


def kafka_version() -> str:
    pom = (ROOT / "deploy/local/kafka/pom.xml").read_text()
    m = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    return m.group(1) if m else "?"


def machine() -> list[str]:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_kb = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    outputs = [":!BENCHMARKS.md", ":!BENCHMARKS.md.new", f":!{CHART}"]
    if subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", *outputs],
                      capture_output=True, text=True, cwd=ROOT).stdout.strip():
        commit += " with uncommitted changes"
    measured = datetime.datetime.fromtimestamp(RESULTS.stat().st_mtime, datetime.timezone.utc)
    wrk = tool_version(["wrk", "--version"], r"wrk (\S+)")
    nginx = tool_version(["nginx", "-v"], r"nginx/(\S+)")
    kcat = tool_version(["kcat", "-V"], r"Version (\S+)")
    librdkafka = tool_version(["kcat", "-V"], r"librdkafka (\S+)")
    clickhouse = tool_version(["clickhouse-client", "--version"], r"version (\S+?)\.?\s*$")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {mem_kb / 1024 / 1024:.1f} GiB",
        f"- OS: {platform.platform()}",
        f"- {tool_version(['rustc', '--version'])}; commit {commit}",
        f"- wrk {wrk}; nginx {nginx}; kcat {kcat} (librdkafka {librdkafka})",
        f"- ClickHouse {clickhouse}; Apache Kafka {kafka_version()} (KRaft, one broker, deploy/local/kafka)",
        f"- measured until {measured:%Y-%m-%d %H:%M} UTC",
    ]


def status(ok: bool) -> str:
    return "met" if ok else "**not met**"


def chart(b1: dict) -> str:
    """Throughput against latency (p50 and p99, log scale) for nginx and the collector:
    an SVG drawn by hand, no plotting library."""
    w, h, left, right, top, bottom = 760, 440, 70, 170, 30, 50
    series = []
    for who, colour in (("nginx", "#888888"), ("collector", "#1f6fb2")):
        pts = b1[f"{who}_curve"] + [b1[who]]
        for q, dash in (("p50_ms", ""), ("p99_ms", "6,4")):
            series.append((f"{who} {q[:3]}", colour, dash, [(p["requests_per_s"], p[q]) for p in pts]))
    xmax = max(x for s in series for x, _ in s[3]) * 1.05
    ys = [y for s in series for _, y in s[3]]
    ylo = 10 ** math.floor(math.log10(max(min(ys), 0.01)))
    yhi = 10 ** math.ceil(math.log10(max(ys)))

    def px(x: float) -> float:
        return left + x / xmax * (w - left - right)

    def py(y: float) -> float:
        y = max(y, ylo)
        return top + (1 - (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo))) * (h - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">Throughput against latency, one page view per request '
           f'(wrk; nginx at {b1["nginx"]["connections"]}, the collector at {b1["collector"]["connections"]} connections)</text>']
    decade = ylo
    while decade <= yhi * 1.0001:
        y = py(decade)
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{decade:g} ms</text>')
        decade *= 10
    step = 10 ** math.floor(math.log10(xmax / 2))
    if xmax / step > 8:
        step *= 2
    x = 0.0
    while x <= xmax:
        out.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{top}" y2="{h - bottom}" stroke="#f0f0f0"/>')
        out.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x / 1000:g}k</text>')
        x += step
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">requests per second answered</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="#444"/>')
    for i, (name, colour, dash, pts) in enumerate(series):
        pts = sorted(pts)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 + i * 18
        out.append(f'<line x1="{w - right + 12}" x2="{w - right + 40}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" '
                   f'stroke-width="2" stroke-dasharray="{dash}"/>')
        out.append(f'<text x="{w - right + 46}" y="{ly}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def paced_load(r: dict, b7: dict) -> str:
    """How benchmark 7's load was paced: by wrk segments whose wait was corrected after
    each one (HeldLoad), or (results of older runs) by one calibrated wait."""
    segments = b7.get("load_segments")
    if segments:
        waits = ", ".join(f"{g['wait_ms']:.2f}" for g in segments)
        rates = ", ".join(f"{g['requests_per_s']:,.0f}" for g in segments)
        return (f"wrk ran in segments of {b7['load_segment_s']} s, each waiting after every answer as "
                f"long as the rate of the one before called for ({waits} ms; {rates} requests/s)")
    load_wait_ms = float(r["commands"]["7-load"][0].rsplit(" ", 1)[1])
    return (f"wrk waited {load_wait_ms:.2f} ms after each answer" if load_wait_ms > 0 else
            "the calibration found the collector could not answer that fast with the processor, "
            "the API and ClickHouse beside it on the same cores, so wrk sent as fast as it answered")


def us(x) -> str:
    """Microseconds of CPU, or ? when a run did not measure them."""
    return "?" if x is None else f"{x:.2f}"


def kcat_rows(b2: dict) -> str:
    """Benchmark 2's kcat runs (results of older runs have only the baseline)."""
    runs = b2.get("kcat_runs") or {"by key": b2["kcat"]}
    base = b2["kcat"]["events_per_s"]
    return "\n".join(
        f"| kcat, {name}{' (baseline)' if run['events_per_s'] == base else ''} | {run['events_per_s']:,.0f} "
        f"| {run['messages']:,} | {run['seconds']:.2f} | {run['events_per_s'] / base:.2f} × "
        f"| {us(run.get('cpu_us_per_event'))} | {us(run.get('broker_cpu_us_per_event'))} |"
        for name, run in runs.items())


def cpu_budget_us(cores: int, events_per_s: float, broker_us: float) -> float:
    """The CPU per event (µs) left for the collector when all `cores` serve
    `events_per_s` and the broker takes `broker_us` of each event (the load tool's share
    is not taken off, so the real budget is smaller still)."""
    return 1e6 * cores / events_per_s - broker_us


def own_work(b2: dict) -> str:
    """The collector's own work per event (criterion, ingest/benches/collect.rs) beside
    kcat's CPU per message."""
    if not (CRITERION / "collect" / "request" / "new").is_dir():
        return "The collector's own work per event was not measured in this run."
    per = {name: 1e6 / rate("collect", name)[0] for name in ("parse", "finish", "serialise", "request")}
    kcat_cpu = b2["kcat"].get("cpu_us_per_event")
    versus = "" if not kcat_cpu else (
        f" That is {per['request'] / kcat_cpu:.1f} times the CPU kcat used per message in this run "
        f"({kcat_cpu:.2f} µs, the producer's work included), before the collector reads a "
        "request or hands a message to its producer.")
    brokers = [x for x in (b2["collector"].get("broker_cpu_us_per_event"),
                           b2["kcat"].get("broker_cpu_us_per_event")) if x is not None]
    if kcat_cpu and brokers:
        budget = cpu_budget_us(os.cpu_count(), 0.8 * b2["kcat"]["events_per_s"], min(brokers))
        floor = per["request"] + kcat_cpu
        versus += (
            f" At 80% of kcat's rate the machine's {os.cpu_count()} cores leave the collector at most "
            f"{budget:.2f} µs of CPU per event (the broker's least share, {min(brokers):.2f} µs, taken "
            f"off; wrk's not), and its own work and what kcat spends per message (reading it and producing) take {floor:.2f} µs "
            + ("together: with this work per event, the target is out of reach on this machine."
               if floor > budget else "together: the rest of the gap is HTTP and how the producer is driven."))
    return (f"The collector's own work per event, on one core and without HTTP or the producer "
            f"(criterion, `ingest/benches/collect.rs`, on this batch): parsing {per['parse']:.2f} µs, "
            f"checking, scrubbing and completing {per['finish']:.2f} µs, serialising "
            f"{per['serialise']:.2f} µs; {per['request']:.2f} µs in a row.{versus}")


def commands(r: dict, *keys: str) -> str:
    lines = [c for k in keys for c in r["commands"].get(k, [])]
    return "\n".join(f"    {c}" for c in dict.fromkeys(lines))


def main() -> None:
    command = (sys.argv[1] if len(sys.argv) > 1 else "bench/run.sh").strip()
    r = json.loads(RESULTS.read_text())
    pv, pv_ms, pv_n = rate("attribution", "pageviews")
    first, first_ms, _ = rate("attribution", "pageviews_first_sight")
    norm, norm_ms, _ = rate("attribution", "pageviews_normalise_only")
    sr, sr_ms, sr_n = rate("attribution", "searches")

    b1, b2, b3, b5, b6, b7 = (r[k] for k in ("b1", "b2", "b3", "b5", "b6", "b7"))
    n, c = b1["nginx"], b1["collector"]
    at70 = next(p for p in b1["collector_curve"] if p["fraction"] == 0.7)
    r1 = c["requests_per_s"] / n["requests_per_s"]
    ok1 = r1 >= 0.5 and at70["p99_ms"] < 20 and all(x["non_2xx"] == 0 for x in b1["collector_runs"])
    r2 = b2["collector"]["events_per_s"] / b2["kcat"]["events_per_s"]
    ok2 = r2 >= 0.8 and b2["collector"]["non_2xx"] == 0
    r3 = b3["processor"]["events_per_s"] / b3["pipe"]["events_per_s"]
    r3v = b3["processor"]["visits_events_per_s"] / b3["pipe"]["events_per_s"]
    ok3 = r3 >= 0.7
    ok4 = pv >= 1_000_000
    worst = max(b5["queries"], key=lambda q: q["p95_ms"])
    per_day = b5["history"]["events_per_site_per_day"]
    avg_day = sum(s["avg"] for s in per_day.values()) / max(1, len(per_day))
    full_size = avg_day >= 200_000 and len(per_day) >= 10 and b5["history"]["days"] >= 90
    ok5 = worst["p95_ms"] < 100
    ok6 = b6["ingest_mb"] < 100 and b6["processor_mb"] < 512
    # The load wrk really offered, against the collector's saturation: a run that fell
    # well short of half of it does not show the target met.
    load7 = b7["load_requests_per_s"] / b1["collector"]["requests_per_s"]
    ok7 = b7["p99_ms"] < 5000 and load7 >= 0.45
    quick = r.get("mode") == "quick"
    size5 = "" if full_size else (f" (at {avg_day:,.0f} events per site per day, not the target's 200,000"
                                  f"{': the full mode measures that' if quick else ''})")
    sessions6 = "" if b6["processor_sessions"] >= 1_000_000 else (
        f" (with {b6['processor_sessions']:,} sessions, not the target's 1,000,000"
        f"{': the full mode has more' if quick else ''})")

    Path(ROOT / CHART).write_text(chart(b1))
    rows1 = "\n".join(
        f"| {who} | {p['fraction']:.0%} | {p['connections']} | {p['offered_per_s']:,} | {p['requests_per_s']:,.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} |"
        for who in ("nginx", "collector") for p in b1[f"{who}_curve"])
    # Results of older runs have one round and no "round" field.
    nginx_at = {(x.get("round", 1), x["connections"]): x for x in b1["nginx_runs"]}
    in_turn = sorted(((x.get("round", 1), x["connections"], who != "nginx"), who, x)
                     for who in ("nginx", "collector") for x in b1[f"{who}_runs"])
    sat1 = "\n".join(
        f"| {turn[0]} | {who}{' (baseline)' if who == 'nginx' else ''} | {x['connections']} | {x['requests_per_s']:,.0f} | "
        f"{x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms | {x['non_2xx']} | {x['socket_errors']} | "
        + (f"{x['requests_per_s'] / nginx_at[turn[:2]]['requests_per_s']:.2f} × |" if who == "collector" else "|")
        for turn, who, x in in_turn)
    conns1 = " and ".join(str(c) for c in sorted({x["connections"] for x in b1["nginx_runs"]}))
    rounds1 = b1.get("rounds", 1)
    rows5 = "\n".join(f"| {q['query']} | `{q['path']}` | {q['p50_ms']:.1f} | {q['p95_ms']:.1f} | {q['max_ms']:.1f} |"
                      for q in b5["queries"])
    sites5 = ", ".join(f"{s} {v['avg']:,.0f}" for s, v in per_day.items())

    paced7 = paced_load(r, b7)
    print(f"""# Luister benchmarks

Written by `{command}` ({r['mode']} mode, {r['seconds'] / 60:.1f} minutes for benchmarks 1–3 and 5–7)
from what it measured; do not edit by hand. How to run, read and profile them:
[docs/benchmarks.md](docs/benchmarks.md).

## Machine

{chr(10).join(machine())}

Everything ran on this one machine at the same time: the load tool, the service under test,
the baseline, Kafka and ClickHouse share its cores.

## Targets (issue 7)

| # | what | target | measured | status |
|---|---|---|---|---|
| 1 | collector, single events, against nginx | ≥ 50% of nginx's rate; p99 < 20 ms at 70% | {r1:.0%} of nginx ({c['requests_per_s']:,.0f} against {n['requests_per_s']:,.0f} requests/s); p99 {at70['p99_ms']:.1f} ms at 70% | {status(ok1)} |
| 2 | collector, batched, against kcat | ≥ 80% of kcat | {r2:.0%} ({b2['collector']['events_per_s']:,.0f} against {b2['kcat']['events_per_s']:,.0f} events/s) | {status(ok2)} |
| 3 | processor, against kcat → clickhouse-client | ≥ 70% of the plain pipe | {r3:.0%} ({b3['processor']['events_per_s']:,.0f} against {b3['pipe']['events_per_s']:,.0f} events/s); {r3v:.0%} until the visits were complete too | {status(ok3)} |
| 4 | attribution, page views per second per core | ≥ 1,000,000 | {pv:,.0f} | {status(ok4)} |
| 5 | API, p95 of the weekly-review queries | < 100 ms | slowest p95 {worst['p95_ms']:.1f} ms ({worst['query']}){size5} | {status(ok5)} |
| 6 | peak memory: ingest / processor | < 100 MB / < 512 MB | {b6['ingest_mb']:.0f} MB / {b6['processor_mb']:.0f} MB{sessions6} | {status(ok6)} |
| 7 | end-to-end freshness, p99 at 50% load | < 5 s | p99 {b7['p99_ms'] / 1000:.2f} s at {load7:.1%} load | {status(ok7)} |

## 1. Collector, single events

wrk with `bench/wrk/event.lua`: one native page view (`POST /v1/events`, JSON) per
request over eight municipal pages, each from a different client address
(`X-Forwarded-For`, which the collector under test trusts), 2 threads, as fast as each
server answers at {conns1} connections, nginx and the collector taking turns
({rounds1} round{'s' if rounds1 > 1 else ''} of each, so that a slower spell of the machine falls on both); each server's
saturation is its best run. Baseline: nginx on the same machine answering 204 to
the same requests with the same tool and concurrencies. The collector answers each
request only after the broker acknowledged the event (acks=all, idempotent producer;
its p50 at 10% load: {b1['collector_curve'][0]['p50_ms']:.1f} ms), so it needs more requests in flight than nginx before
the cores are the limit.

| round | | connections | requests/s | p50 | p99 | non-2xx | socket errors | collector against nginx's run just before |
|---|---|---|---|---|---|---|---|---|
{sat1}

Saturation: nginx {n['requests_per_s']:,.0f} requests/s (at {n['connections']} connections), the collector
{c['requests_per_s']:,.0f} (at {c['connections']}): **{r1:.2f} ×**. The collector counted
{b1['events_accepted']:,.0f} events accepted for {b1['requests']:,} requests.
Paced runs (each connection waits so that together they offer the given rate; wrk
measures from sending a request to its answer):

![Throughput against latency]({CHART})

| | load | connections | offered/s | answered/s | p50 ms | p99 ms |
|---|---|---|---|---|---|---|
{rows1}

Commands:

{commands(r, '1-nginx', '1-collector', '1-nginx-paced', '1-collector-paced')}

## 2. Collector, batched

wrk with `bench/wrk/batch.lua`: batches of {b2['batch_size']} native events (page views,
site searches, a contact click) per request, {b2['connections']} connections. Baseline: the
messages the collector wrote to Kafka, dumped and produced again by kcat to a new topic of
the same partitions with the collector's producer settings (lz4, acks=all, idempotence;
the linger is in the command below). The collector puts each window of 10 ms into one
partition (`producer.partitioning = "sticky"`); kcat cannot do that with keyed messages,
so it runs twice, partitioning by key and into one partition, and the faster run is the
baseline.

| | events/s | messages | seconds | against the baseline | CPU µs per event | broker CPU µs per event |
|---|---|---|---|---|---|---|
| collector | {b2['collector']['events_per_s']:,.0f} | {b2['collector']['events_in_topic']:,} in the topic ({b2['collector']['events_answered_2xx']:,} answered 2xx) | {r['settings']['batch_s']} | {r2:.2f} × | {us(b2['collector'].get('cpu_us_per_event'))} | {us(b2['collector'].get('broker_cpu_us_per_event'))} |
{kcat_rows(b2)}

CPU per event: the whole process's user and system time (all its threads, librdkafka's
included) while it ran, over the messages it put on the topic; the broker's over the same
time. {own_work(b2)}

Commands:

{commands(r, '2-collector', '2-dump', '2-kcat', '2-kcat-1p')}
    cargo bench -p luister-ingest --bench collect   # the collector's own work (from `{command}`)

## 3. Processor

{b3['events']:,} events of ten municipal sites (three whole weekdays before the run, seed 7) generated
straight into a topic of its own: `{b3['generator']}`. The processor reads them from the
start, attributes themes and channels, writes events and the aggregate tables, and its
sessionizer builds the visits; the time runs from its /readyz until its
`luister_processor_events_written_total` reached every event, and (second row) until
its `luister_processor_sessions_complete_until_timestamp_seconds` covered the moment
the last event was written: the visits of every event computed too. Its sessionizer
runs every 5 s here (default 60 s) and, as configured by default, waits while the
processor catches up on a backlog (its batches fill up), so most of its work falls
between the two figures: one run over the whole backlog. Baseline: the plain pipe from
the same topic into one raw MergeTree table.

| | events/s | seconds | against the pipe |
|---|---|---|---|
| processor | {b3['processor']['events_per_s']:,.0f} | {b3['processor']['seconds']:.1f} | {r3:.2f} × |
| processor, until the visits were complete | {b3['processor']['visits_events_per_s']:,.0f} | {b3['processor']['visits_seconds']:.1f} | {r3v:.2f} × |
| kcat -C \\| clickhouse-client (baseline) | {b3['pipe']['events_per_s']:,.0f} | {b3['pipe']['seconds']:.1f} | 1.00 × |

ClickHouse held {b3['stored']:,} events afterwards and {b3['sessions']:,} sessions.

Commands:

{commands(r, '3-history', '3-pipe')}

## 4. Theme attribution

The default taxonomy classifying realistic municipal traffic from `luister-loadgen`
(seed 42): {pv_n:,} page views (URL and title) and {sr_n:,} site searches, on one
core (criterion, `processor/benches/attribution.rs`). Baseline in the same run: folding
the same page texts only (lowercase, accents off), the least any attribution does.
"First sight" classifies with a new matcher every batch, so no word is known yet.

| input | per second, one core | time per batch | against the baseline |
|---|---|---|---|
| page views (classify) | {pv:,.0f} | {pv_ms:.1f} ms / {pv_n:,} | {pv / norm:.2f} × |
| page views, first sight | {first:,.0f} | {first_ms:.1f} ms / {pv_n:,} | {first / norm:.2f} × |
| page views (fold only: baseline) | {norm:,.0f} | {norm_ms:.1f} ms / {pv_n:,} | 1.00 × |
| site searches (classify) | {sr:,.0f} | {sr_ms:.1f} ms / {sr_n:,} | |

Command: `cargo bench -p luister-processor --bench attribution` (from `{command}`).

## 5. API

The processor's data of benchmark 3 (its three weekdays), the busiest of them
({b5['history'].get('source', '?')}) copied to the other {b5['history']['days'] - 3} days up to the day before the run
(each copy with its own visitor keys, as the daily salt gives; the aggregate
tables fill through their materialized views): {b5['history']['events']:,} events over
{b5['history']['days']} days, copied in {b5['history']['seconds']:.0f} s. Events per site per
day: {sites5}. Each query ran {b5['runs']} times after one warm-up, rotating over the ten sites,
over one keep-alive connection. Baseline: ClickHouse answering `SELECT 1` over HTTP,
p50 {b5['select1']['p50_ms']:.2f} ms, p95 {b5['select1']['p95_ms']:.2f} ms.

| query | path | p50 ms | p95 ms | max ms |
|---|---|---|---|---|
{rows5}

Commands:

{commands(r, '5-history')}

## 6. Memory

Peak resident set (VmHWM) of each service, read from /proc at the end of its benchmark:

| service | during | peak RSS | target |
|---|---|---|---|
| luister-ingest | benchmarks 1 and 2 | {b6['ingest_mb']:.0f} MB | < 100 MB |
| luister-processor | benchmark 3 ({b6['processor_sessions']:,} sessions) | {b6['processor_mb']:.0f} MB | < 512 MB |
| luister-api | benchmark 5 | {b6['api_mb']:.0f} MB | |

## 7. End-to-end freshness

Collector, processor and API on a new topic and database, with wrk offering
{b7['offered_per_s']:,} page views/s (50% of the collector's saturation in benchmark 1):
{paced7}; the collector accepted {b7['load_requests_per_s']:,.0f} events/s meanwhile
({load7:.1%} of its saturation in benchmark 1). One probe page view at a time for site `probe`;
the time runs from the collector's 2xx to the API's reach count including it
(polled every 20 ms). The processor flushes a batch after at most
{b7['batch_max_wait_ms']} ms (`consumer.batch_max_wait_ms`, default) and runs its
sessionizer every {b7.get('sessions_interval_s', 5)} s (`sessions.interval_s`; benchmark 3 runs it every 5 s).

| probes | p50 | p99 | max | consumer lag at the end |
|---|---|---|---|---|
| {b7['probes']} | {b7['p50_ms']:.0f} ms | {b7['p99_ms']:.0f} ms | {b7['max_ms']:.0f} ms | {b7['lag_at_end']:.0f} |

Command (load, its first segment): 

{commands(r, '7-load')}

Services, each with a configuration written by bench/bench.py into `.luister/bench/`:

{commands(r, 'services')}
""")


if __name__ == "__main__":
    main()
