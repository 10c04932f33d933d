#!/usr/bin/env python3
"""Checks that Luister's SQL also runs on a current ClickHouse engine (chdb).

Locally and in CI the services talk to Debian's ClickHouse 18.16. Production runs
current ClickHouse, which has removed or changed some of what 18.16 accepts. This
script replays, in chdb's embedded current engine:

1. every migration in store/migrations/ (split as the Rust runner splits them), and
2. every other distinct statement the services sent to the local ClickHouse during the
   test run, read from its system.query_log (the services identify as clickhouse-rs),
   and every Grafana dashboard query the dashboard test ran (as luister-dashboards-test).
   Scratch database names are mapped to one database; INSERT ... FORMAT RowBinary, and
   INSERT ... VALUES whose values the log leaves out, are checked as a SELECT of the
   same columns. Tables a migration created and a later one dropped are made again,
   empty, before the replay: the backfill code of the migration that replaced them
   (run by the migration runner, so logged as a service query) reads them.

It exits non-zero, naming the statement and the engine's error, when any fails.
Usage: modern_clickhouse.py [CLICKHOUSE_URL]   (default http://127.0.0.1:8123)
"""

import json
import re
import sys
import tempfile
import urllib.request
from pathlib import Path

import chdb
from chdb import session as chs

ROOT = Path(__file__).resolve().parents[2]
DB = "luister"
SCRATCH_DB = re.compile(r"\bit_[a-z0-9_]+_[0-9a-f]{12}\b")
INSERT = re.compile(r"^INSERT INTO\s+`?(\w+)`?\s*\(([^)]*)\)\s*(?:FORMAT\s+RowBinary|VALUES)\s*$", re.S | re.I)
CREATE = re.compile(r"^CREATE TABLE IF NOT EXISTS\s+(\w+)", re.I)
DROP = re.compile(r"^DROP TABLE IF EXISTS\s+(\w+)\s*$", re.I)


def split_statements(sql: str) -> list[str]:
    """The same rule as store/src/migrations.rs: ';' at line end, '--' comment lines."""
    out, cur = [], []
    for line in sql.splitlines():
        t = line.strip()
        if not t or t.startswith("--"):
            continue
        cur.append(line)
        if t.endswith(";"):
            stmt = "\n".join(cur).strip().rstrip(";").strip()
            if stmt:
                out.append(stmt)
            cur = []
    rest = "\n".join(cur).strip()
    if rest:
        out.append(rest)
    return out


def logged_statements(url: str) -> list[str]:
    """Distinct statements in the order: CREATE first, then the rest, DROP last
    (18.16 logs whole seconds only, so the order within a second is unknown)."""
    sql = (
        "SELECT query FROM system.query_log "
        "WHERE type = 1 AND (http_user_agent LIKE 'clickhouse-rs%' OR http_user_agent = 'luister-dashboards-test') "
        "ORDER BY event_time FORMAT JSONEachRow"
    )
    urllib.request.urlopen(urllib.request.Request(url, data=b"SYSTEM FLUSH LOGS")).read()
    body = urllib.request.urlopen(urllib.request.Request(url, data=sql.encode())).read().decode()
    seen, out = set(), []
    for line in body.splitlines():
        q = SCRATCH_DB.sub(DB, json.loads(line)["query"].strip())
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    phase = lambda q: 0 if q.upper().startswith("CREATE") else 2 if q.upper().startswith("DROP") else 1
    return sorted(out, key=phase)


def as_checkable(stmt: str) -> str:
    m = INSERT.match(stmt)
    if m:
        return f"SELECT {m.group(2)} FROM {m.group(1)} LIMIT 0"
    return stmt


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8123"
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        s = chs.Session(tmp)
        s.query(f"CREATE DATABASE IF NOT EXISTS {DB}")
        s.query(f"USE {DB}")
        version = s.query("SELECT version()", "TSV").bytes().decode().strip()
        print(f"chdb {chdb.__version__}, ClickHouse engine {version}")

        migrations = sorted((ROOT / "store" / "migrations").glob("*.sql"))
        n_mig = 0
        for f in migrations:
            for stmt in split_statements(f.read_text()):
                n_mig += 1
                try:
                    s.query(stmt)
                except Exception as e:  # chdb raises plain exceptions with the server text
                    failures += 1
                    print(f"FAIL migration {f.name}: {e}\n  {stmt[:300]}")
        print(f"migrations: {n_mig} statements from {len(migrations)} files")

        statements = [st for f in migrations for st in split_statements(f.read_text())]
        dropped = {m.group(1) for st in statements if (m := DROP.match(st))}
        for st in statements:
            m = CREATE.match(st)
            if m and m.group(1) in dropped:
                s.query(st)

        # Migration statements were run from the files above; the log repeats them.
        norm = lambda q: " ".join(q.split())
        from_files = {norm(st) for f in migrations for st in split_statements(f.read_text())}
        logged = [q for q in logged_statements(url) if norm(q) not in from_files]
        for stmt in logged:
            check = as_checkable(stmt)
            try:
                s.query(check, "Null")
            except Exception as e:
                failures += 1
                print(f"FAIL query: {e}\n  {check[:300]}")
        print(f"queries sent by the services: {len(logged)} distinct statements replayed")
        if not logged:
            print("FAIL: no statements in system.query_log; run the integration tests first")
            failures += 1

    print(f"{n_mig + len(logged) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
