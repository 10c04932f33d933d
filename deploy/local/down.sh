#!/usr/bin/env bash
# Stops every process deploy/local/up.sh started (by the pids it recorded, nothing
# else). Data under .luister/ is kept; remove that folder to start from scratch.
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for name in ingest api processor prometheus kafka clickhouse; do
  stop_pid "$name"
done
log "all Luister processes stopped"
