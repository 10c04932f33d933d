#!/usr/bin/env python3
"""Benchmarks 1–3 and 5–7 of issue 7 on the real services, each beside a baseline
measured in the same run on the same machine:

  1. collector, single events (wrk)         against nginx answering 204
  2. collector, batches of 100 into Kafka    against kcat producing the same messages
  3. processor, topic into ClickHouse        against kcat -C | clickhouse-client
  5. API, weekly-review queries, 90 days     against ClickHouse answering SELECT 1
  6. peak memory of each service during the above
  7. freshness, collector 2xx → API          at 50% of the collector's saturation

It expects ClickHouse and Kafka running and the release binaries built (bench/run.sh
sees to both), runs every service it measures itself on ports of its own, with topics
and databases of its own, and writes what it measured to
$LUISTER_HOME/bench/results.json for bench/report.py. Standard library only.

    bench/bench.py [--quick]
"""

import argparse
import datetime
import hashlib
import http.client
import json
import math
import os
import re
import resource
import secrets
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("LUISTER_HOME", ROOT / ".luister"))
WORK = HOME / "bench"
BIN = ROOT / "target" / "release"
CH_URL = os.environ.get("LUISTER_CLICKHOUSE_URL") or (
    f"http://127.0.0.1:{os.environ.get('LUISTER_CLICKHOUSE_HTTP_PORT', '8123')}"
)
CH_TCP_PORT = os.environ.get("LUISTER_CLICKHOUSE_TCP_PORT", "9000")
BROKERS = os.environ.get("LUISTER_KAFKA_BROKERS") or (
    f"127.0.0.1:{os.environ.get('LUISTER_KAFKA_PORT', '9092')}"
)
PORTS = {"nginx": 18188, "ingest": 18180, "processor": 19112, "api": 18181}


def kafka_login() -> dict:
    """librdkafka settings that log in to the local broker as its administrator (the
    benchmarks' topics and groups are their own, outside the services' ACLs); none for
    a broker without the local stack's SASL users."""
    try:
        password = (HOME / "kafka" / "credentials" / "admin").read_text().strip()
    except OSError:
        return {}
    return {"security.protocol": "sasl_plaintext", "sasl.mechanism": "PLAIN",
            "sasl.username": "admin", "sasl.password": password}


KAFKA_LOGIN = kafka_login()
# The same for the services' [kafka] sections, the load generator and kcat.
KAFKA_TOML = "".join(f'{k} = "{v}"\n' for k, v in {
    "security_protocol": KAFKA_LOGIN.get("security.protocol"),
    "sasl_mechanism": KAFKA_LOGIN.get("sasl.mechanism"),
    "sasl_username": KAFKA_LOGIN.get("sasl.username"),
    "sasl_password": KAFKA_LOGIN.get("sasl.password")}.items() if v)
# For the load generator only (the services read their [kafka] section; the API has none).
LOADGEN_ENV = {**os.environ, **{f"LUISTER_KAFKA__{k.upper()}": v for k, v in {
    "security_protocol": KAFKA_LOGIN.get("security.protocol"),
    "sasl_mechanism": KAFKA_LOGIN.get("sasl.mechanism"),
    "sasl_username": KAFKA_LOGIN.get("sasl.username"),
    "sasl_password": KAFKA_LOGIN.get("sasl.password")}.items() if v}}
KCAT_CONF = WORK / "kcat.conf"


def write_private(path: Path, text: str) -> None:
    """Writes a file only its owner may read (it holds a password or a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


SALT_KEY = WORK / "salt-key"


def write_credentials() -> None:
    """kcat's login and the collectors' salt key, for this run."""
    write_private(KCAT_CONF, "".join(f"{k}={v}\n" for k, v in KAFKA_LOGIN.items()))
    if not SALT_KEY.exists():
        write_private(SALT_KEY, secrets.token_hex(32))
TZ = ZoneInfo("Europe/Amsterdam")
PARTITIONS = 6
SITES = [f"gemeente{i:02}" for i in range(1, 11)]

# Per mode: wrk durations (s), the history generated for 3 and 5 (visits a day of the
# first of ten sites, each next site fewer: see luister-loadgen), the days benchmark 5
# spans, query repetitions and freshness probes.
MODES = {
    "quick": dict(saturate_s=5, paced_s=4, batch_s=5, visits_per_day=15_000, history_days=90,
                  query_runs=15, probes=25),
    "full": dict(saturate_s=15, paced_s=10, batch_s=15, visits_per_day=280_000, history_days=90,
                 query_runs=40, probes=100),
}
FRACTIONS = [0.1, 0.3, 0.5, 0.7, 0.9]
# Benchmark 1 saturates each server at every one of these concurrencies and takes its
# best: the collector answers after the broker's acknowledgement (about 2 ms), so with
# few connections the requests in flight, not the cores, limit it.
SATURATION_CONNECTIONS = (64, 256)
# ... and does so this many times, nginx and the collector taking turns (saturate).
SATURATION_ROUNDS = 2
BATCH_CONNECTIONS = 16
# Trials at most to find the wait that offers a paced rate (paced_wait).
CALIBRATION_TRIALS = 4
# Benchmark 7's load runs as wrk segments of this many seconds (HeldLoad).
LOAD_SEGMENT_S = 10

results: dict = {"commands": {}}


def log(msg: str) -> None:
    print(f"\033[1;34m[bench]\033[0m {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], key: str | None = None, **kw) -> str:
    """Runs `cmd`, returns its stdout, and notes the exact command under `key`."""
    if key:
        results["commands"].setdefault(key, []).append(shlex.join(str(c) for c in cmd))
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{shlex.join(str(c) for c in cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def shell(script: str, key: str) -> float:
    """Runs a shell pipeline and returns how long it took in seconds."""
    results["commands"].setdefault(key, []).append(script)
    started = time.monotonic()
    p = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True)
    took = time.monotonic() - started
    if p.returncode != 0:
        raise SystemExit(f"{script} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return took


def ch(sql: str, database: str | None = None) -> str:
    """One ClickHouse statement over HTTP (unqualified tables in `database`); its
    output as text."""
    query = "?" + urllib.parse.urlencode({"database": database}) if database else ""
    req = urllib.request.Request(CH_URL + "/" + query, data=sql.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=3600) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"ClickHouse refused {sql[:300]!r}: {e.read().decode()[:1000]}") from e


def ch_int(sql: str) -> int:
    return int(float(ch(sql).strip() or 0))


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_until(what: str, timeout: float, check, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user and system, all threads) a process has used so far, or None
    without one."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid() -> int | None:
    """The broker the local scripts started (none with LUISTER_EXTERNAL_KAFKA_BROKERS)."""
    try:
        pid = int((HOME / "run" / "kafka.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if cpu_s(pid) is not None else None


def cpu_us_per(pid: int | None, before: float | None, n: int) -> float | None:
    """Microseconds of `pid`'s CPU per item since `before` (cpu_s)."""
    after = cpu_s(pid)
    if before is None or after is None or n <= 0:
        return None
    return 1e6 * (after - before) / n


def offsets(topic: str) -> int:
    """Messages in a topic: the sum of its partitions' end offsets."""
    out = run(["kcat", "-F", KCAT_CONF, "-b", BROKERS, "-Q", *sum((["-t", f"{topic}:{p}:-1"] for p in range(PARTITIONS)), [])])
    found = re.findall(r"\[(\d+)\] offset (\d+)", out)
    if len(found) != PARTITIONS:
        raise SystemExit(f"kcat -Q did not list the {PARTITIONS} partitions of {topic}:\n{out}")
    return sum(int(o) for _, o in found)


def create_topic(topic: str) -> None:
    run([BIN / "luister-loadgen", "kafka", "--brokers", BROKERS, "--topic", topic,
         "--partitions", PARTITIONS, "--days", 0], env=LOADGEN_ENV)


def delete_topics(prefix: str) -> None:
    """Deletes the topics whose names start with `prefix`: a run's messages are not
    needed after it, and the broker's disk would fill run by run."""
    log(f"  {run([BIN / 'luister-loadgen', 'delete-topics', '--brokers', BROKERS, '--prefix', prefix], env=LOADGEN_ENV).strip()}")


def fresh_database(name: str) -> None:
    ch(f"DROP DATABASE IF EXISTS {name}")


class Service:
    """A Luister binary started with a configuration of its own."""

    def __init__(self, name: str, config: str, port: int):
        self.name, self.port = name, port
        path = WORK / f"{name}.toml"
        path.write_text(config)
        self.log = open(WORK / f"{name}.log", "w")
        cmd = [str(BIN / f"luister-{name}"), "--config", str(path)]
        results["commands"].setdefault("services", []).append(shlex.join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        started = time.monotonic()

        def ready():
            if self.proc.poll() is not None:
                raise SystemExit(f"luister-{name} exited: see {WORK / f'{name}.log'}")
            try:
                return http_get(port, "/readyz", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(f"luister-{name} to be ready", 120, ready)
        self.ready_after_s = time.monotonic() - started

    def metric(self, name: str) -> float:
        """The sum of a Prometheus metric's samples (all labels)."""
        _, body = http_get(self.port, "/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def ingest_config(topic: str) -> str:
    return f"""[http]
listen = "127.0.0.1:{PORTS['ingest']}"
client_ip_header = "x-forwarded-for"

[kafka]
brokers = "{BROKERS}"
topic = "{topic}"
partitions = {PARTITIONS}
replication_factor = 1
{KAFKA_TOML}
[privacy]
shared_salt = true
salt_key_file = "{SALT_KEY}"

[[sites]]
id = "demo"
hostnames = ["localhost"]

[[sites]]
id = "probe"
hostnames = ["localhost"]

[log]
level = "warn"
"""


# The processor's defaults (processor/src/config.rs), written out so the report can say them.
BATCH_MAX_WAIT_MS = 1000
SESSIONS_INTERVAL_S = 60
# Benchmark 3 runs the sessionizer every 5 s, to time when the visits are complete.
BENCH3_SESSIONS_INTERVAL_S = 5


def processor_config(topic: str, database: str, group: str, sites: list[str],
                     sessions_interval_s: int) -> str:
    return f"""[http]
listen = "127.0.0.1:{PORTS['processor']}"

[kafka]
brokers = "{BROKERS}"
topic = "{topic}"
dead_letter_topic = "{topic}.dlq"
partitions = {PARTITIONS}
replication_factor = 1
{KAFKA_TOML}
[consumer]
group_id = "{group}"
batch_max_wait_ms = {BATCH_MAX_WAIT_MS}

[clickhouse]
url = "{CH_URL}"
database = "{database}"

[sessions]
interval_s = {sessions_interval_s}

[metrics]
sites = {json.dumps(sites)}

[log]
level = "warn"
"""


def api_config(database: str, token: str, sites: list[str]) -> str:
    listed = "\n".join(f'[[sites]]\nid = "{s}"\n' for s in sites)
    return f"""[http]
listen = "127.0.0.1:{PORTS['api']}"

[clickhouse]
url = "{CH_URL}"
database = "{database}"

[auth]
admin_token_sha256 = ["{hashlib.sha256(token.encode()).hexdigest()}"]

{listed}
[log]
level = "warn"
"""


# --- wrk -----------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise SystemExit(f"cannot read the wrk latency {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url: str, script: str, seconds: int, connections: int, args: list, key: str | None) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", ROOT / script, url]
    if args:
        cmd += ["--", *args]
    return parse_wrk(run(cmd, key))


def parse_wrk(out: str) -> dict:
    """Rate, request count, p50/p99 latency (ms) and errors of a `wrk --latency` report."""
    if not re.search(r"Requests/sec:", out):
        raise SystemExit(f"wrk printed no rate:\n{out}")
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50_ms": ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(int(x) for x in m.groups()) if (
            m := re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)) else 0,
    }


def paced_wait(url: str, rate: float, connections: int) -> float:
    """The wait after each answer (ms) that makes wrk offer `rate` requests/s over
    `connections`. wrk waits after an answer, not on a schedule, so short trials measure
    how long a request takes besides the wait, and the wait is shortened by that much.
    That time grows with the load and with whatever else the cores are doing, so up to
    CALIBRATION_TRIALS trials correct it (half a step at a time, as one trial is noisy)
    until one is within 5%; the wait of the trial closest to the rate is kept."""
    period_ms = 1000 * connections / rate
    wait_ms = period_ms
    tried = []
    for _ in range(CALIBRATION_TRIALS):
        trial = wrk(url, "bench/wrk/event.lua", 2, connections, [f"{wait_ms:.3f}"], None)
        got = trial["requests_per_s"]
        log(f"  pacing {rate:.0f}/s: waiting {wait_ms:.2f} ms gave {got:.0f}/s")
        tried.append((abs(got - rate), wait_ms))
        if abs(got - rate) <= 0.05 * rate:
            break
        wait_ms, before = (wait_ms + next_wait(period_ms, wait_ms, got, connections)) / 2, wait_ms
        if abs(wait_ms - before) < 0.01:
            break
    return min(tried)[1]


class HeldLoad(threading.Thread):
    """wrk offering `rate` requests/s until stopped, in segments of LOAD_SEGMENT_S.
    wrk waits after each answer, so the rate it offers falls whenever the answers slow
    down, as they do while the processor, ClickHouse and the API share the cores with
    the collector (a wait calibrated in 2 s trials gave 70–80% of the rate over
    minutes). After each segment the wait is corrected from the rate that segment gave,
    half a step at a time, as in paced_wait."""

    def __init__(self, url: str, rate: float, connections: int, wait_ms: float):
        super().__init__(daemon=True)
        self.url, self.rate, self.connections, self.wait_ms = url, rate, connections, wait_ms
        self.segments: list[dict] = []  # each whole segment: its wait and what wrk reported
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._proc: subprocess.Popen | None = None

    def command(self, wait_ms: float) -> list[str]:
        return ["wrk", "-t2", f"-c{self.connections}", f"-d{LOAD_SEGMENT_S}s", "--latency", "-s",
                str(ROOT / "bench/wrk/event.lua"), self.url, "--", f"{wait_ms:.3f}"]

    def run(self) -> None:
        period_ms = 1000 * self.connections / self.rate
        while True:
            with self._lock:
                if self._stopping:
                    return
                wait_ms = self.wait_ms
                self._proc = subprocess.Popen(self.command(wait_ms), stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True)
            out, _ = self._proc.communicate()
            with self._lock:
                if self._stopping:
                    return  # cut short: not a whole segment
            if self._proc.returncode != 0 or "Requests/sec:" not in out:
                self.failure = f"wrk failed (exit {self._proc.returncode}):\n{out}"
                return
            got = parse_wrk(out)
            self.segments.append({"wait_ms": wait_ms, **got})
            self.wait_ms = (wait_ms + next_wait(period_ms, wait_ms, got["requests_per_s"],
                                                self.connections)) / 2

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._proc and self._proc.poll() is None:
                self._proc.terminate()
        self.join()


def next_wait(period_ms: float, wait_ms: float, got_per_s: float, connections: int) -> float:
    """The wait for the next trial: the period less what a request took besides the wait
    in the last trial (which waited `wait_ms` and answered `got_per_s`); never negative."""
    busy_ms = max(0.0, 1000 * connections / max(got_per_s, 1) - wait_ms)
    return max(0.0, period_ms - busy_ms)


def saturate(servers: list[tuple[str, str]], seconds: int) -> dict[str, tuple[dict, list[dict]]]:
    """wrk as fast as it goes against each (name, url) at each of SATURATION_CONNECTIONS,
    the servers taking turns and the whole repeated SATURATION_ROUNDS times, so that a
    slower spell of the machine falls on all of them: per name, the best run and all."""
    runs: dict[str, list[dict]] = {name: [] for name, _ in servers}
    for round_ in range(1, SATURATION_ROUNDS + 1):
        for c in SATURATION_CONNECTIONS:
            for name, url in servers:
                r = wrk(url, "bench/wrk/event.lua", seconds, c, [], f"1-{name}")
                r["connections"], r["round"] = c, round_
                log(f"  {name} at {c} connections (round {round_}): {r['requests_per_s']:.0f}/s, "
                    f"p99 {r['p99_ms']:.2f} ms, {r['non_2xx']} non-2xx")
                runs[name].append(r)
    return {name: (max(rs, key=lambda r: r["requests_per_s"]), rs) for name, rs in runs.items()}


def curve(name: str, url: str, saturation: dict, seconds: int) -> list[dict]:
    """Paced runs at FRACTIONS of the `saturation` run's rate, at its concurrency."""
    points = []
    connections = saturation["connections"]
    for f in FRACTIONS:
        rate = max(1, round(saturation["requests_per_s"] * f))
        wait_ms = paced_wait(url, rate, connections)
        p = wrk(url, "bench/wrk/event.lua", seconds, connections, [f"{wait_ms:.3f}"], f"1-{name}-paced")
        p["fraction"], p["offered_per_s"], p["connections"] = f, rate, connections
        log(f"  {name} at {f:.0%} ({rate}/s offered): {p['requests_per_s']:.0f}/s, "
            f"p50 {p['p50_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms")
        points.append(p)
    return points


def nginx_config(dir_: Path) -> Path:
    conf = dir_ / "nginx.conf"
    conf.write_text(f"""worker_processes auto;
daemon off;
pid {dir_}/nginx.pid;
error_log {dir_}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir_}/nginx-body;
  server {{
    listen 127.0.0.1:{PORTS['nginx']};
    location / {{ return 204; }}
  }}
}}
""")
    return conf


def bench_collector(mode: dict, run_id: str) -> Service:
    """Benchmarks 1 and 2; returns the collector (still running, for its memory)."""
    log("benchmark 1: nginx answering 204 (baseline) and the collector, one page view per request")
    ndir = WORK / "nginx"
    ndir.mkdir(exist_ok=True)
    conf = nginx_config(ndir)
    results["commands"]["1-nginx"] = [f"nginx -c {conf} -p {ndir}  # worker_processes auto; return 204"]
    topic = f"bench.{run_id}.collector"
    nginx_url = f"http://127.0.0.1:{PORTS['nginx']}"
    url = f"http://127.0.0.1:{PORTS['ingest']}"
    # Both servers run throughout the saturation runs (the one wrk is not loading is
    # idle), so that their runs can take turns.
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(ndir)], stderr=subprocess.DEVNULL)
    try:
        wait_until("nginx", 10, lambda: _connects(PORTS["nginx"]))
        ingest = Service("ingest", ingest_config(topic), PORTS["ingest"])
        for warm in (nginx_url, url):
            wrk(warm, "bench/wrk/event.lua", 2, SATURATION_CONNECTIONS[0], [], "1-warm-up")
        before = ingest.metric("luister_ingest_events_accepted_total")
        sat = saturate([("nginx", nginx_url), ("collector", url)], mode["saturate_s"])
        (n_sat, n_runs), (c_sat, c_runs) = sat["nginx"], sat["collector"]
        accepted = ingest.metric("luister_ingest_events_accepted_total") - before
        n_curve = curve("nginx", nginx_url, n_sat, mode["paced_s"])
    finally:
        nginx.terminate()
        nginx.wait()
    requests = sum(r["requests"] for r in c_runs)
    log(f"  collector: {accepted:.0f} events accepted for {requests} requests")
    c_curve = curve("collector", url, c_sat, mode["paced_s"])
    results["b1"] = {"nginx": n_sat, "collector": c_sat, "nginx_runs": n_runs, "collector_runs": c_runs,
                     "nginx_curve": n_curve, "collector_curve": c_curve,
                     "events_accepted": accepted, "requests": requests, "rounds": SATURATION_ROUNDS}

    batch = ROOT / "bench" / "batch.json"
    batch_size = len(json.loads(batch.read_text()))
    log(f"benchmark 2: the collector, batches of {batch_size} events")
    start_offsets = offsets(topic)
    broker = broker_pid()
    cpu_collector, cpu_broker = cpu_s(ingest.proc.pid), cpu_s(broker)
    started = time.monotonic()
    b = wrk(url, "bench/wrk/batch.lua", mode["batch_s"], BATCH_CONNECTIONS, [batch], "2-collector")
    took = time.monotonic() - started
    written = offsets(topic) - start_offsets
    b["events_per_s"] = b["requests_per_s"] * batch_size
    b["events_in_topic"] = written
    b["events_answered_2xx"] = (b["requests"] - b["non_2xx"]) * batch_size
    # CPU per event the topic got, of the whole process (HTTP, the handler, librdkafka's
    # threads), and the broker's beside it.
    b["cpu_us_per_event"] = cpu_us_per(ingest.proc.pid, cpu_collector, written)
    b["broker_cpu_us_per_event"] = cpu_us_per(broker, cpu_broker, written)
    log(f"  collector: {b['events_per_s']:.0f} events/s ({b['requests_per_s']:.0f} batches/s), "
        f"{written} events in the topic, {b['events_answered_2xx']} answered 2xx, wrk ran {took:.1f} s")

    log("benchmark 2: kcat producing the same messages (baseline)")
    dump = WORK / "collector-messages.tsv"
    count = min(written, 2_000_000)
    shell(f"kcat -F {KCAT_CONF} -C -b {BROKERS} -t {topic} -o beginning -e -q -c {count} -f '%k\\t%s\\n' > {dump}",
          "2-dump")
    # The collector puts a window's events into one partition (producer.partitioning,
    # sticky); kcat cannot do that with keyed messages, so it runs twice, partitioning
    # by key and into one partition, and the faster one is the baseline.
    kcat_runs = {}
    for name, flag, label in (("by key", "", "2-kcat"), ("one partition", "-p 0 ", "2-kcat-1p")):
        target = f"bench.{run_id}.{label}"
        create_topic(target)
        children, cpu_broker = resource.getrusage(resource.RUSAGE_CHILDREN), cpu_s(broker)
        took = shell(
            f"kcat -F {KCAT_CONF} -P -b {BROKERS} -t {target} {flag}-K '\\t' -z lz4 -X acks=all -X enable.idempotence=true "
            f"-X linger.ms=1 < {dump}", label)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        landed = offsets(target)
        if landed != count:
            raise SystemExit(f"kcat produced {landed} of {count} messages ({name})")
        # kcat ran under bash, which waited for it: its CPU is in the children's usage.
        kcat_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
        kcat_runs[name] = {"messages": count, "seconds": took, "events_per_s": count / took, "partitioning": name,
                           "cpu_us_per_event": 1e6 * kcat_cpu / count,
                           "broker_cpu_us_per_event": cpu_us_per(broker, cpu_broker, count)}
        log(f"  kcat, {name}: {count} messages in {took:.2f} s: {count / took:.0f}/s")
    results["b2"] = {"collector": b, "kcat": max(kcat_runs.values(), key=lambda k: k["events_per_s"]),
                     "kcat_runs": kcat_runs, "batch_size": batch_size, "connections": BATCH_CONNECTIONS}
    dump.unlink()
    return ingest


def _connects(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --- 3. processor --------------------------------------------------------------

RAW_TABLE = """CREATE TABLE {db}.raw (
    v UInt16, site String, ts_ms Int64, client_ts_ms Nullable(Int64), visitor String,
    url String, referrer Nullable(String), device String, browser String,
    screen_width Nullable(UInt32), language Nullable(String), type String,
    title Nullable(String), query Nullable(String), result_count Nullable(UInt32),
    category Nullable(String), name Nullable(String), target Nullable(String)
) ENGINE = MergeTree() ORDER BY (site, ts_ms)"""


def bench_processor(mode: dict, run_id: str, database: str) -> Service:
    """Benchmark 3 (and the processor's part of 6); returns the processor, still running."""
    topic = f"bench.{run_id}.history"
    until = history_until(datetime.datetime.now(TZ).date())
    log(f"benchmark 3: {mode['visits_per_day']} visits a day for the first of {len(SITES)} sites, "
        f"the three weekdays up to {until}, straight into {topic}")
    out = run([BIN / "luister-loadgen", "kafka", "--brokers", BROKERS, "--topic", topic,
               "--partitions", PARTITIONS, "--days", 3, "--until", until, "--seed", 7,
               "--sites", ",".join(SITES), "--visits-per-day", mode["visits_per_day"]], "3-history",
              env=LOADGEN_ENV)
    log(f"  {out.strip()}")
    n = offsets(topic)

    log(f"benchmark 3: the processor, {n} events into ClickHouse")
    fresh_database(database)
    proc = Service("processor", processor_config(topic, database, f"bench-{run_id}", SITES, BENCH3_SESSIONS_INTERVAL_S),
                   PORTS["processor"])
    started = time.monotonic()
    last = [0.0, started]

    def done():
        w = proc.metric("luister_processor_events_written_total")
        now = time.monotonic()
        if w > last[0]:
            last[:] = [w, now]
        elif now - last[1] > 120:
            raise SystemExit(f"the processor stopped at {w:.0f} of {n} events; see {WORK / 'processor.log'}")
        return w >= n

    wait_until("the processor to write every event", 3600, done, every=0.1)
    took = time.monotonic() - started
    written_at = time.time()
    stored = ch_int(f"SELECT count() FROM {database}.events")
    if stored != n:
        raise SystemExit(f"the processor stored {stored} events of {n}: lost or counted twice")
    log(f"  processor: {n} events in {took:.1f} s: {n / took:.0f}/s ({stored} rows in events)")
    log("  waiting for the sessionizer to finish the visits")
    # Every event reached ClickHouse by `written_at`; the visits are complete once the
    # sessionizer reports a run that covers that time.
    wait_until("the visits", 1800, lambda: proc.metric(
        "luister_processor_sessions_complete_until_timestamp_seconds") >= written_at, every=0.1)
    took_visits = time.monotonic() - started
    sessions = ch_int(f"SELECT count() FROM {database}.sessions FINAL WHERE deleted = 0")
    log(f"  visits complete after {took_visits:.1f} s: {sessions} sessions")

    log("benchmark 3: kcat -C | clickhouse-client into one raw table (baseline)")
    pipe_db = f"{database}_pipe"
    fresh_database(pipe_db)
    ch(f"CREATE DATABASE {pipe_db}")
    ch(RAW_TABLE.format(db=pipe_db))
    took_pipe = shell(
        f"kcat -F {KCAT_CONF} -C -b {BROKERS} -t {topic} -o beginning -e -q -f '%s\\n' | clickhouse-client "
        f"--port {CH_TCP_PORT} --input_format_skip_unknown_fields=1 "
        f"--query 'INSERT INTO {pipe_db}.raw FORMAT JSONEachRow'", "3-pipe")
    piped = ch_int(f"SELECT count() FROM {pipe_db}.raw")
    if piped != n:
        raise SystemExit(f"the pipe loaded {piped} of {n} events")
    log(f"  pipe: {n} events in {took_pipe:.1f} s: {n / took_pipe:.0f}/s")
    fresh_database(pipe_db)
    results["b3"] = {
        "events": n, "stored": stored, "sessions": sessions, "generator": out.strip(),
        "until": until.isoformat(),
        "processor": {"seconds": took, "events_per_s": n / took, "ready_after_s": proc.ready_after_s,
                      "visits_seconds": took_visits, "visits_events_per_s": n / took_visits},
        "pipe": {"seconds": took_pipe, "events_per_s": n / took_pipe},
    }
    return proc


# --- 5. API --------------------------------------------------------------------


def history_until(today: datetime.date) -> datetime.date:
    """The last of the three whole weekdays benchmark 3 generates: the latest Wednesday,
    Thursday or Friday before `today`, so that the history is the same size at any hour
    and on any day the benchmarks run (weekends are quieter, today is not over)."""
    d = today - datetime.timedelta(days=1)
    while d.weekday() not in (2, 3, 4):
        d -= datetime.timedelta(days=1)
    return d


def replicate_history(database: str, days: int, until: datetime.date) -> dict:
    """Fills the `days` days up to yesterday: the generator wrote the three whole
    weekdays up to `until` (benchmark 3's, even where the day has turned since); the
    busiest of them is copied to every other day of the period, each copy with its own
    visitor keys (as the daily salt would give). The aggregate tables are rewritten for
    those days by `luister-processor rebuild`."""
    today = datetime.datetime.now(TZ).date()
    generated = [until - datetime.timedelta(days=i) for i in (2, 1, 0)]
    size = {d: ch_int(f"SELECT count() FROM {database}.events WHERE day = '{d}'") for d in generated}
    source = max(generated, key=lambda d: size[d])
    # Copy `source` to `source` − k for each k of `shifts`: every day from `days` days ago
    # to yesterday that the generator did not write (k < 0 for the days after it).
    targets = [today - datetime.timedelta(days=i) for i in range(days, 0, -1)]
    shifts = [(source - t).days for t in targets if t not in generated]
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    cols = {}
    for table in ("events", "sessions"):
        rows = ch(f"SELECT name, type FROM system.columns WHERE database = '{database}' "
                  f"AND table = '{table}' FORMAT TSV")
        cols[table] = [tuple(l.split("\t")) for l in rows.splitlines()]

    def expr(table: str, name: str, type_: str) -> str:
        shift = "k * 86400"
        if name == "visitor":
            return "lower(hex(cityHash64(visitor, k)))"
        if table == "sessions" and name == "session_id":
            return (f"concat(lower(hex(cityHash64(visitor, k))), '-', "
                    f"toString(toUInt32(start_ts) - {shift}))")
        if type_ == "Date":
            return f"{name} - k"
        if type_ == "DateTime" and name != "inserted_at":
            return f"{name} - {shift}"
        if name in ("client_ts", "first_contact_ts"):
            return f"toUInt32(if({name} = 0, 0, {name} - {shift}))"
        if type_ == "Array(UInt32)" and name.endswith("_ts"):
            return f"arrayMap(x -> toUInt32(if(x = 0, 0, x - {shift})), {name})"
        return name

    chunks = [shifts[i:i + 10] for i in range(0, len(shifts), 10)]
    for table in ("events", "sessions"):
        select = ", ".join(expr(table, n, t) for n, t in cols[table])
        names = ", ".join(n for n, _ in cols[table])
        for chunk in chunks:
            ks = ", ".join(f"toInt32({k})" for k in chunk)
            sql = (f"INSERT INTO {database}.{table} ({names}) SELECT {select} FROM {database}.{table} "
                   f"ARRAY JOIN [{ks}] AS k WHERE day = '{source}'")
            if chunk is chunks[0]:
                results["commands"].setdefault("5-history", []).append(sql)
            ch(sql)
        log(f"  {table}: copied {source} ({size[source]} events) to the {len(shifts)} other days")
    # Every daily aggregate of the copied days, rewritten by the processor's own code
    # (the sessionizer does this for the days it sees).
    config = ROOT / ".luister" / f"bench-rebuild-{database}.toml"
    config.write_text(processor_config("unused", database, "unused", [], 60))
    first = (today - datetime.timedelta(days=days)).isoformat()
    out = run([BIN / "luister-processor", "--config", str(config), "rebuild", first, yesterday])
    config.unlink()
    results["commands"].setdefault("5-history", []).append(
        f"luister-processor --config <bench config> rebuild {first} {yesterday}")
    log(f"  {out.strip()}")
    # Days that are no longer written to are merged in the background; merge now what
    # the copies left in parts, as a server that has been running for 90 days holds it.
    for table in ("event_counts_daily", "search_term_counts_daily", "visits_daily",
                  "visit_totals_daily", "contact_channels_daily"):
        for partition in ch(f"SELECT DISTINCT partition FROM system.parts WHERE database = '{database}' "
                            f"AND table = '{table}' AND active FORMAT TSV").split():
            ch(f"OPTIMIZE TABLE {database}.{table} PARTITION {partition} FINAL")
    results["commands"].setdefault("5-history", []).append(
        "OPTIMIZE TABLE <each aggregate table> PARTITION <each month> FINAL")
    per_day = ch(f"SELECT site, round(avg(e)), min(e), max(e) FROM (SELECT site, day, count() AS e "
                 f"FROM {database}.events WHERE day <= '{yesterday}' GROUP BY site, day) "
                 f"GROUP BY site ORDER BY site FORMAT TSV")
    sites = {}
    for line in per_day.splitlines():
        site, avg, lo, hi = line.split("\t")
        sites[site] = {"avg": float(avg), "min": int(lo), "max": int(hi)}
    total = ch_int(f"SELECT count() FROM {database}.events")
    days_held = ch_int(f"SELECT uniqExact(day) FROM {database}.events WHERE day <= '{yesterday}'")
    return {"events": total, "days": days_held, "events_per_site_per_day": sites, "yesterday": yesterday,
            "source": source.isoformat()}


def review_queries(today: datetime.date) -> list[tuple[str, str]]:
    """The weekly review's queries: last ISO week, against the 12 weeks before it, and
    the 90-day trends (paths without the site)."""
    monday = today - datetime.timedelta(days=today.weekday() + 7)
    sunday = monday + datetime.timedelta(days=6)
    week = f"from={monday}&to={sunday}"
    q90 = f"from={today - datetime.timedelta(days=90)}&to={today - datetime.timedelta(days=1)}"
    iso = monday.isocalendar()
    return [
        ("reach", f"reach?{week}"),
        ("reach, theme schulden", f"reach?{week}&theme=schulden"),
        ("themes", f"themes?{week}"),
        ("timeseries, 90 days by day", f"timeseries?{q90}&granularity=day"),
        ("timeseries, 90 days by week, schulden", f"timeseries?{q90}&granularity=week&theme=schulden"),
        ("top searches", f"searches/top?{week}"),
        ("zero-result searches", f"searches/zero-results?{week}"),
        ("unmatched searches", f"searches/unmatched?{week}"),
        ("rising searches", f"searches/rising?{week}"),
        ("channel mix", f"mix?{week}&by=channel"),
        ("device mix", f"mix?{week}&by=device"),
        ("early contact, schulden, 90 days", f"early-contact?{q90}&theme=schulden"),
        ("channel shift", f"channel-shift?{week}"),
        ("top pages", f"pages?{week}"),
        ("entry pages, schulden", f"pages?{week}&list=entry&theme=schulden"),
        ("pages not found", f"not-found?{week}"),
        ("campaigns", f"campaigns?{week}"),
        ("referrer hosts", f"campaigns?{week}&by=referrer"),
        ("clicks out", f"clicks-out?{week}"),
        ("transitions of a page", f"transitions?{week}&path=/schulden/schuldhulpverlening"),
        ("paths to contact, schulden", f"paths?{week}&theme=schulden"),
        ("weekly report", f"report?week={iso.year}-W{iso.week:02}"),
    ]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value at least p% of the values are not above."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def bench_api(mode: dict, database: str) -> Service:
    log(f"benchmark 5: {mode['history_days']} days of history for {len(SITES)} sites")
    started = time.monotonic()
    history = replicate_history(database, mode["history_days"],
                                datetime.date.fromisoformat(results["b3"]["until"]))
    history["seconds"] = time.monotonic() - started
    log(f"  {history['events']} events over {history['days']} days in {history['seconds']:.0f} s")
    token = "lst_" + secrets.token_hex(32)
    api = Service("api", api_config(database, token, SITES), PORTS["api"])
    conn = http.client.HTTPConnection("127.0.0.1", PORTS["api"], timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    today = datetime.datetime.now(TZ).date()
    queries = review_queries(today)
    rows = []
    for name, path in queries:
        times = []
        for i in range(mode["query_runs"] + 1):
            site = SITES[i % len(SITES)]
            t = time.perf_counter()
            conn.request("GET", f"/v1/sites/{site}/{path}", headers=headers)
            r = conn.getresponse()
            body = r.read()
            took = (time.perf_counter() - t) * 1000
            if r.status != 200:
                raise SystemExit(f"/v1/sites/{site}/{path} answered {r.status}: {body[:500]!r}")
            if i > 0:  # the first of each is a warm-up
                times.append(took)
        rows.append({"query": name, "path": f"/v1/sites/{{site}}/{path}", "p50_ms": percentile(times, 50),
                     "p95_ms": percentile(times, 95), "max_ms": max(times), "runs": len(times)})
        log(f"  {name}: p50 {rows[-1]['p50_ms']:.1f} ms, p95 {rows[-1]['p95_ms']:.1f} ms")
    conn.close()
    base = []
    cconn = http.client.HTTPConnection(urllib.parse.urlsplit(CH_URL).hostname,
                                       urllib.parse.urlsplit(CH_URL).port or 8123, timeout=10)
    for i in range(mode["query_runs"] * 4):
        t = time.perf_counter()
        cconn.request("POST", "/", body=b"SELECT 1")
        cconn.getresponse().read()
        base.append((time.perf_counter() - t) * 1000)
    cconn.close()
    results["commands"]["5-baseline"] = ["POST SELECT 1 to ClickHouse's HTTP interface, keep-alive"]
    results["b5"] = {"history": history, "queries": rows, "runs": mode["query_runs"],
                     "select1": {"p50_ms": percentile(base, 50), "p95_ms": percentile(base, 95)}}
    return api


# --- 7. freshness --------------------------------------------------------------


def bench_freshness(mode: dict, run_id: str, collector_saturation: dict) -> dict:
    topic = f"bench.{run_id}.live"
    database = f"luister_bench_live_{run_id}"
    fresh_database(database)
    create_topic(topic)
    ingest = Service("ingest", ingest_config(topic), PORTS["ingest"])
    proc = Service("processor", processor_config(topic, database, f"bench-live-{run_id}", ["demo", "probe"],
                                    SESSIONS_INTERVAL_S),
                   PORTS["processor"])
    token = "lst_" + secrets.token_hex(32)
    api = Service("api", api_config(database, token, ["demo", "probe"]), PORTS["api"])
    rate = round(collector_saturation["requests_per_s"] * 0.5)
    connections = collector_saturation["connections"]
    url = f"http://127.0.0.1:{PORTS['ingest']}"
    load = HeldLoad(url, rate, connections, paced_wait(url, rate, connections))
    results["commands"]["7-load"] = [shlex.join(load.command(load.wait_ms))]
    log(f"benchmark 7: freshness under {rate} page views/s (50% of the collector's saturation)")
    load.start()
    try:
        time.sleep(5)
        load_from = (ingest.metric("luister_ingest_events_accepted_total"), time.monotonic())
        headers = {"Authorization": f"Bearer {token}"}
        latencies = []
        for i in range(1, mode["probes"] + 1):
            today = datetime.datetime.now(TZ).date().isoformat()
            body = json.dumps({"site": "probe", "type": "pageview", "url": f"http://localhost/probe/{i}"})
            conn = http.client.HTTPConnection("127.0.0.1", PORTS["ingest"], timeout=10)
            conn.request("POST", "/v1/events", body=body, headers={
                "Content-Type": "application/json", "Origin": "http://localhost",
                "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "X-Forwarded-For": f"10.254.{i // 250}.{i % 250 + 1}"})
            r = conn.getresponse()
            r.read()
            accepted = time.perf_counter()
            conn.close()
            if r.status // 100 != 2:
                raise SystemExit(f"the collector refused probe {i}: {r.status}")

            def visible():
                status, b = http_get(PORTS["api"], f"/v1/sites/probe/reach?from={today}&to={today}", headers)
                if status != 200:
                    raise SystemExit(f"the API answered {status}: {b[:300]!r}")
                return pageviews(json.loads(b)) >= i

            wait_until(f"probe {i} to show in the API", 120, visible, every=0.02)
            latencies.append((time.perf_counter() - accepted) * 1000)
            time.sleep(0.5)
        behind = proc.metric("luister_processor_consumer_lag")
        load_rate = (ingest.metric("luister_ingest_events_accepted_total") - load_from[0]) / (
            time.monotonic() - load_from[1])
    finally:
        load.stop()
        for s in (api, proc, ingest):
            s.stop()
    if load.failure:
        raise SystemExit(f"benchmark 7's load: {load.failure}")
    fresh_database(database)
    got = {"offered_per_s": rate, "probes": len(latencies), "p50_ms": percentile(latencies, 50),
           "p99_ms": percentile(latencies, 99), "max_ms": max(latencies), "lag_at_end": behind,
           "batch_max_wait_ms": BATCH_MAX_WAIT_MS, "sessions_interval_s": SESSIONS_INTERVAL_S,
           "load_requests_per_s": load_rate,
           "load_segment_s": LOAD_SEGMENT_S,
           "load_segments": [{k: g[k] for k in ("wait_ms", "requests_per_s", "p99_ms")} for g in load.segments]}
    log(f"  freshness: p50 {got['p50_ms']:.0f} ms, p99 {got['p99_ms']:.0f} ms over {len(latencies)} probes")
    return got


def pageviews(reach: dict) -> int:
    """The page views of the period in a reach answer."""
    for f in reach.get("figures", []):
        if f.get("metric") == "pageviews":
            return int(f.get("current") or 0)
    raise SystemExit(f"no page view figure in the reach answer: {json.dumps(reach)[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs and less history")
    args = parser.parse_args()
    mode_name = "quick" if args.quick else "full"
    mode = MODES[mode_name]
    WORK.mkdir(parents=True, exist_ok=True)
    write_credentials()
    run_id = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    database = f"luister_bench_{run_id}"
    results.update(mode=mode_name, settings=mode, run=run_id, brokers=BROKERS, clickhouse=CH_URL)
    started = time.monotonic()
    for db in ch("SHOW DATABASES").split():
        if db.startswith("luister_bench"):
            fresh_database(db)  # left behind by an earlier, interrupted run
    delete_topics("bench.")  # the same
    ingest = bench_collector(mode, run_id)
    results["b6"] = {"ingest_mb": ingest.peak_rss_mb()}
    ingest.stop()
    proc = bench_processor(mode, run_id, database)
    results["b6"]["processor_mb"] = proc.peak_rss_mb()
    results["b6"]["processor_sessions"] = results["b3"]["sessions"]
    proc.stop()
    api = bench_api(mode, database)
    results["b6"]["api_mb"] = api.peak_rss_mb()
    api.stop()
    fresh_database(database)
    results["b7"] = bench_freshness(mode, run_id, results["b1"]["collector"])
    delete_topics(f"bench.{run_id}.")
    results["seconds"] = time.monotonic() - started
    (WORK / "results.json").write_text(json.dumps(results, indent=2))
    log(f"all measured in {results['seconds'] / 60:.1f} min: {WORK / 'results.json'}")


if __name__ == "__main__":
    main()
