#!/usr/bin/env bash
# Runs all of Luister's benchmarks (issue 7) and writes BENCHMARKS.md and
# bench/throughput-latency.svg from what they measured.
#   bench/run.sh           full measurement times and data sizes (about an hour)
#   bench/run.sh --quick   short runs and less data (under 10 minutes once built)
# It installs what it needs (wrk, nginx, kcat and the local stack's prerequisites),
# starts ClickHouse and Kafka the way deploy/local/up.sh does, builds the release
# binaries, and runs each Luister service itself on ports of its own
# (see docs/benchmarks.md).
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/local/lib.sh"
cd "$ROOT" || exit 1

criterion_args=()
bench_args=()
if [[ ${1:-} == --quick ]]; then
  criterion_args=(--warm-up-time 1 --measurement-time 3)
  bench_args=(--quick)
elif [[ -n ${1:-} ]]; then
  die "usage: bench/run.sh [--quick]"
fi

install_prerequisites
apt_install wrk nginx-light kcat
start_clickhouse
start_kafka
build_services

log "benchmark 4: theme attribution (criterion, one core)"
cargo bench --locked -q -p luister-processor --bench attribution -- "${criterion_args[@]}" \
  2>&1 | tee "$LOG_DIR/bench-attribution.log" | { grep -E "time:|thrpt:" || true; }
log "beside benchmark 2: the collector's own work per event (criterion, one core)"
cargo bench --locked -q -p luister-ingest --bench collect -- "${criterion_args[@]}" \
  2>&1 | tee "$LOG_DIR/bench-collect.log" | { grep -E "time:|thrpt:" || true; }

log "benchmarks 1-3 and 5-7 on the real services"
python3 bench/bench.py "${bench_args[@]}"

log "writing BENCHMARKS.md"
python3 bench/report.py "bench/run.sh ${1:-}" >BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
log "done: BENCHMARKS.md"
