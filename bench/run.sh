#!/usr/bin/env bash
# Runs Luister's benchmarks and writes BENCHMARKS.md from what they measured.
#   bench/run.sh           full measurement times
#   bench/run.sh --quick   short measurement times (a few minutes)
# Today it runs benchmark 4 of issue 7 (theme attribution); the others of that issue
# are listed in the report as not measured yet.
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../deploy/local/lib.sh"
cd "$ROOT" || exit 1
mkdir -p "$LOG_DIR"

criterion_args=()
if [[ ${1:-} == --quick ]]; then
  criterion_args=(--warm-up-time 1 --measurement-time 3)
elif [[ -n ${1:-} ]]; then
  die "usage: bench/run.sh [--quick]"
fi
command -v cargo >/dev/null || die "cargo is not installed"

log "benchmark 4: theme attribution (criterion, one core)"
cargo bench --locked -q -p luister-processor --bench attribution -- "${criterion_args[@]}" \
  2>&1 | tee "$LOG_DIR/bench-attribution.log" | grep -E "time:|thrpt:" || true

log "writing BENCHMARKS.md"
python3 bench/report.py "bench/run.sh ${1:-}" >BENCHMARKS.md
log "done: BENCHMARKS.md"
