#!/usr/bin/env bash
# Brings the whole Luister pipeline up on this machine, without containers:
# ClickHouse, Apache Kafka (KRaft), Prometheus, luister-ingest, luister-processor and
# luister-api, all on 127.0.0.1 with their data under .luister/. Installs what is
# missing (Debian packages, the Kafka jars from Maven Central). Safe to run twice.
#
# Variables: LUISTER_{INGEST,API,PROCESSOR_METRICS,CLICKHOUSE_HTTP,CLICKHOUSE_TCP,KAFKA,
# KAFKA_CONTROLLER,PROMETHEUS}_PORT change ports; LUISTER_CLICKHOUSE_URL and
# LUISTER_KAFKA_BROKERS use existing servers instead of starting local ones.
# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

preflight_ports
install_prerequisites
start_clickhouse
start_kafka
build_services
write_service_configs
start_service processor "$PROCESSOR_PORT" LUISTER_PROCESSOR_METRICS_PORT
start_service ingest "$INGEST_PORT" LUISTER_INGEST_PORT
start_service api "$API_PORT" LUISTER_API_PORT
start_prometheus

today=$(date -u +%F)
week=$(date -u +%G-W%V)
token=$(admin_token)
log "sending demo traffic through the collector (luister-loadgen, today so far)"
"$ROOT/target/release/luister-loadgen" http --collector "http://127.0.0.1:$INGEST_PORT" \
  --sites demo --hosts localhost --visits-per-day 300 --events 300 --rate 200 \
  >>"$LOG_DIR/loadgen.log" 2>&1 || die "the collector refused the demo traffic; see $LOG_DIR/loadgen.log"
demo_days="${LUISTER_DEMO_DAYS:-56}"
if ((demo_days > 0)) && [[ ! -f $LUISTER_HOME/demo-history-written ]]; then
  log "writing $demo_days days of demo history to Kafka (luister-loadgen; LUISTER_DEMO_DAYS=0 skips it)"
  # The load generator logs in to the local broker as loadgen (an external one: set the
  # LUISTER_KAFKA__* variables yourself).
  if [[ -z $EXTERNAL_KAFKA_BROKERS ]]; then
    export LUISTER_KAFKA__SECURITY_PROTOCOL=sasl_plaintext LUISTER_KAFKA__SASL_USERNAME=loadgen
    LUISTER_KAFKA__SASL_PASSWORD=$(kafka_password loadgen)
    export LUISTER_KAFKA__SASL_PASSWORD
  fi
  "$ROOT/target/release/luister-loadgen" kafka --brokers "$KAFKA_BROKERS" --sites demo --hosts localhost \
    --visits-per-day 300 --days "$demo_days" >>"$LOG_DIR/loadgen.log" 2>&1 \
    || die "writing the demo history failed; see $LOG_DIR/loadgen.log"
  touch "$LUISTER_HOME/demo-history-written" # once: running up.sh again adds no history twice
fi

cat <<INFO

Luister is running.
  collector   http://127.0.0.1:$INGEST_PORT/v1/events
  API         http://127.0.0.1:$API_PORT/v1/sites/demo/reach?from=$today&to=$today
              (OpenAPI: http://127.0.0.1:$API_PORT/openapi.json)
  report      http://127.0.0.1:$API_PORT/v1/sites/demo/report?week=$week
              (the browser asks for a login: any user name, the token as password)
  API token   $token
              (administrator; from LUISTER_ADMIN_TOKEN, or generated once into $LUISTER_HOME/admin-token)
  metrics     http://127.0.0.1:$INGEST_PORT/metrics  http://127.0.0.1:$PROCESSOR_PORT/metrics  http://127.0.0.1:$API_PORT/metrics
  Prometheus  http://127.0.0.1:$PROMETHEUS_PORT
  ClickHouse  $CLICKHOUSE_URL (database ${LUISTER_CLICKHOUSE_DATABASE:-luister})
  Kafka       $KAFKA_BROKERS (topic luister.events.v1; SASL/PLAIN users admin, collector,
              processor, loadgen with their passwords in $LUISTER_HOME/kafka/credentials,
              each limited by ACLs: docs/operations.md)
  logs        $LOG_DIR
  configs     $CONF_DIR

Send a page view (curl's own user agent is treated as a bot, so give a browser's):
  curl -A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0' -X POST http://127.0.0.1:$INGEST_PORT/v1/events \
       -d '{"site":"demo","type":"pageview","url":"http://localhost/x"}'
Ask the API:
  curl -H "Authorization: Bearer $token" "http://127.0.0.1:$API_PORT/v1/sites/demo/reach?from=$today&to=$today"
Tracker for a page on localhost: <script defer src="http://127.0.0.1:$INGEST_PORT/t.js?site=demo"></script>
Stop everything: deploy/local/down.sh
INFO
