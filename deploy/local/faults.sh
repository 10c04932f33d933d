#!/usr/bin/env bash
# The fault tests in their full form: the same tests deploy/local/test.sh runs in a
# short form, with more faults. Needs the local stack's ClickHouse and Kafka (started
# here when not running, and stopped again afterwards); they are killed and restarted
# many times, so nothing else should be using them.
#   LUISTER_TEST_CLICKHOUSE_KILLS   SIGKILLs of ClickHouse during inserts (default 100)
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
export LUISTER_TEST_CLICKHOUSE_URL="http://127.0.0.1:$CH_HTTP_PORT" LUISTER_TEST_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
export LUISTER_TEST_CLICKHOUSE_KILLS="${LUISTER_TEST_CLICKHOUSE_KILLS:-100}"

cd "$ROOT" || exit 1
log "ClickHouse killed (SIGKILL) during inserts $LUISTER_TEST_CLICKHOUSE_KILLS times, every table against a ledger"
cargo test --locked -p luister-processor --test clickhouse_kill -- --ignored --nocapture
