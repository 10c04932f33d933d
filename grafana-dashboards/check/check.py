#!/usr/bin/env python3
"""Checks the Grafana dashboards in grafana-dashboards/ (run by deploy/local/test.sh).

1. Grafana's dashboard schema: each dashboard is written into a TypeScript file as an
   object literal typed `Dashboard` from @grafana/schema (the types Grafana generates
   from its dashboard schema; annotation queries typed with the ClickHouse plugin's
   query fields) and type-checked with tsc: a misspelt or unknown field, a wrong type
   or a value off an enumeration fails. Needs `npm ci` in this folder.
2. Prometheus panels: every query of a Prometheus target ($__rate_interval read as 5m)
   must have a test in pipeline-health.promtest.yml and every test a query; then
   `promtool test rules` evaluates them on known series.

The ClickHouse panels are run on real data by api/tests/it/dashboards.rs.
"""

import glob
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARDS = sorted(glob.glob(str(HERE.parent / "*.json")))


def schema_check() -> None:
    build = HERE / "build"
    build.mkdir(exist_ok=True)
    # Grafana types annotation queries as AnnotationQuery<TQuery extends DataQuery>,
    # TQuery being the datasource plugin's query: here the ClickHouse plugin's.
    parts = [
        "import type { AnnotationQuery, Dashboard, DataQuery } from '@grafana/schema';",
        "interface ClickHouseQuery extends DataQuery { editorType?: 'sql' | 'builder'; format?: number; rawSql?: string }",
        "type LuisterDashboard = Omit<Dashboard, 'annotations'> & "
        "{ annotations?: { list?: Array<AnnotationQuery<ClickHouseQuery>> } };",
    ]
    for i, path in enumerate(DASHBOARDS):
        parts.append(f"// {Path(path).name}\nexport const dashboard{i}: LuisterDashboard = {Path(path).read_text()};")
    (build / "dashboards.ts").write_text("\n".join(parts) + "\n")
    tsc = HERE / "node_modules" / ".bin" / "tsc"
    r = subprocess.run([str(tsc), "-p", str(HERE)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"dashboards do not match Grafana's dashboard schema:\n{r.stdout}{r.stderr}")
    print(f"{len(DASHBOARDS)} dashboards match Grafana's dashboard schema (@grafana/schema)")


def prometheus_check() -> None:
    queries = set()
    for path in DASHBOARDS:
        for panel in json.loads(Path(path).read_text())["panels"]:
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("type") == "prometheus":
                    queries.add(t["expr"].replace("$__rate_interval", "5m"))
    tests_file = HERE / "pipeline-health.promtest.yml"
    tested = set(re.findall(r"^\s*- expr: (.+?)\s*$", tests_file.read_text(), re.M))
    if queries - tested:
        sys.exit("Prometheus panel queries without a test in pipeline-health.promtest.yml:\n  "
                 + "\n  ".join(sorted(queries - tested)))
    if tested - queries:
        sys.exit("tests in pipeline-health.promtest.yml for queries no panel has:\n  "
                 + "\n  ".join(sorted(tested - queries)))
    subprocess.run(["promtool", "test", "rules", str(tests_file)], check=True)
    print(f"{len(queries)} Prometheus panel queries evaluated by promtool on known series")


if __name__ == "__main__":
    schema_check()
    prometheus_check()
