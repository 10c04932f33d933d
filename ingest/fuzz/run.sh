#!/usr/bin/env bash
# Runs every fuzz target of the collector for SECONDS each (default 120), two at a
# time. Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets a stable
# toolchain accept the sanitizer flags cargo-fuzz passes. Corpus and crashes stay in
# ingest/fuzz/corpus and ingest/fuzz/artifacts (git-ignored).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-120}"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
run() { cargo fuzz run -O "$1" -- -max_total_time="$seconds" -max_len=8192 2>&1 | tail -n 3; }
run native_json & run scrubber & wait
run matomo_query & run plausible_body & wait
