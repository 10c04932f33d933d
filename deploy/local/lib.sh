# shellcheck shell=bash
# Shared functions of the local stack (up.sh, down.sh, test.sh). Everything runs on
# 127.0.0.1 and keeps its data under $LUISTER_HOME (default: .luister/ in the checkout,
# git-ignored). Each process we start writes its pid to $LUISTER_HOME/run/NAME.pid, and
# down.sh stops exactly those pids.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LUISTER_HOME="${LUISTER_HOME:-$ROOT/.luister}"
RUN_DIR="$LUISTER_HOME/run"
LOG_DIR="$LUISTER_HOME/logs"
CONF_DIR="$LUISTER_HOME/config"

# Ports (each overridable). CI and tests use the same defaults.
INGEST_PORT="${LUISTER_INGEST_PORT:-8080}"
API_PORT="${LUISTER_API_PORT:-8081}"
PROCESSOR_PORT="${LUISTER_PROCESSOR_METRICS_PORT:-9102}"
CH_HTTP_PORT="${LUISTER_CLICKHOUSE_HTTP_PORT:-8123}"
CH_TCP_PORT="${LUISTER_CLICKHOUSE_TCP_PORT:-9000}"
KAFKA_PORT="${LUISTER_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${LUISTER_KAFKA_CONTROLLER_PORT:-9093}"
PROMETHEUS_PORT="${LUISTER_PROMETHEUS_PORT:-9090}"

# External components: when set, nothing local is started for them.
EXTERNAL_CLICKHOUSE_URL="${LUISTER_CLICKHOUSE_URL:-}"
EXTERNAL_KAFKA_BROKERS="${LUISTER_KAFKA_BROKERS:-}"
CLICKHOUSE_URL="${EXTERNAL_CLICKHOUSE_URL:-http://127.0.0.1:$CH_HTTP_PORT}"
KAFKA_BROKERS="${EXTERNAL_KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}"

KAFKA_POM="$ROOT/deploy/local/kafka/pom.xml"
KAFKA_LIBS="$LUISTER_HOME/kafka/libs"
KAFKA_CREDENTIALS="$LUISTER_HOME/kafka/credentials"

log() { printf '\033[1;34m[luister]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[luister] error:\033[0m %s\n' "$*" >&2; exit 1; }

mkdir -p "$RUN_DIR" "$LOG_DIR" "$CONF_DIR"

# --- processes -----------------------------------------------------------------

pid_alive() { # NAME -> true when the pid file names a live process (a zombie is not)
  local f="$RUN_DIR/$1.pid"
  [[ -f $f ]] || return 1
  local pid task state; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  # A killed process stays a zombie until its parent (here: init) reaps it, and its
  # main thread turns zombie before the other threads have finished exiting (and
  # closed its sockets): it is alive while any of its threads is.
  for task in "/proc/$pid/task/"*/stat; do
    state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "$task" 2>/dev/null) || continue
    [[ $state != Z && $state != X ]] && return 0
  done
  return 1
}

kill_pid() { # NAME: SIGKILL the process we started under NAME and wait until it is gone
  local f="$RUN_DIR/$1.pid"
  [[ -f $f ]] || return 0
  local pid; pid=$(cat "$f")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 500); do pid_alive "$1" || break; sleep 0.01; done
  pid_alive "$1" && die "$1 (pid $pid) survived SIGKILL for 5 s"
  rm -f "$f"
}

port_in_use() { # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

claim_port() { # PORT VARIABLE WHAT: fail clearly when someone else holds the port
  if port_in_use "$1"; then
    die "port $1 ($3) is already in use by another process; stop it or choose another port with $2=<port>"
  fi
}

preflight_ports() { # fail before starting anything when a port we need is taken
  local entries=(
    "clickhouse $CH_HTTP_PORT LUISTER_CLICKHOUSE_HTTP_PORT ClickHouse-HTTP"
    "clickhouse $CH_TCP_PORT LUISTER_CLICKHOUSE_TCP_PORT ClickHouse-native-protocol"
    "kafka $KAFKA_PORT LUISTER_KAFKA_PORT Kafka-broker"
    "kafka $KAFKA_CONTROLLER_PORT LUISTER_KAFKA_CONTROLLER_PORT Kafka-KRaft-controller"
    "prometheus $PROMETHEUS_PORT LUISTER_PROMETHEUS_PORT Prometheus"
    "ingest $INGEST_PORT LUISTER_INGEST_PORT luister-ingest"
    "api $API_PORT LUISTER_API_PORT luister-api"
    "processor $PROCESSOR_PORT LUISTER_PROCESSOR_METRICS_PORT luister-processor"
  )
  local name port var what
  for e in "${entries[@]}"; do
    read -r name port var what <<<"$e"
    [[ $name == clickhouse && -n $EXTERNAL_CLICKHOUSE_URL ]] && continue
    [[ $name == kafka && -n $EXTERNAL_KAFKA_BROKERS ]] && continue
    pid_alive "$name" || claim_port "$port" "$var" "${what//-/ }"
  done
}

wait_for() { # WHAT SECONDS COMMAND...: retry COMMAND until it succeeds
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not come up within ${secs}s; see the logs in $LOG_DIR"
    fi
    sleep 0.3
  done
}

start_bg() { # NAME COMMAND...: start detached, remember the pid, log to LOG_DIR/NAME.log
  local name=$1; shift
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

stop_pid() { # NAME: stop the process we started under NAME (TERM, then KILL)
  local f="$RUN_DIR/$1.pid"
  [[ -f $f ]] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$1 (pid $pid) did not stop on TERM within 10s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$f"
}

# --- installation --------------------------------------------------------------

apt_install() { # PACKAGE...: install the Debian packages that are missing
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_prerequisites() {
  # libssl-dev: librdkafka is built with TLS and SCRAM support.
  local pkgs=(curl ca-certificates build-essential pkg-config zlib1g-dev libssl-dev python3 python3-venv)
  [[ -n $EXTERNAL_CLICKHOUSE_URL ]] || command -v clickhouse >/dev/null || pkgs+=(clickhouse-server clickhouse-client)
  [[ -n $EXTERNAL_KAFKA_BROKERS ]] || { command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless); command -v mvn >/dev/null || pkgs+=(maven); }
  command -v prometheus >/dev/null || pkgs+=(prometheus)
  apt_install "${pkgs[@]}"
  command -v cargo >/dev/null || die "cargo is not installed; install Rust (https://rustup.rs) and run this again"
}

fetch_kafka() { # the broker jars from Maven Central, once (Maven also caches them in ~/.m2)
  if [[ -f $KAFKA_LIBS/.complete && $KAFKA_LIBS/.complete -nt $KAFKA_POM ]]; then return 0; fi
  log "fetching the Apache Kafka broker jars from Maven Central (once)"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$KAFKA_LIBS" >"$LOG_DIR/kafka-fetch.log" 2>&1 \
    || die "fetching the Kafka jars failed; see $LOG_DIR/kafka-fetch.log"
  touch "$KAFKA_LIBS/.complete"
}

# --- ClickHouse ----------------------------------------------------------------

clickhouse_bin() { # the server binary: Debian's clickhouse-server or a `clickhouse` binary
  if command -v clickhouse-server >/dev/null; then echo "clickhouse-server"
  elif command -v clickhouse >/dev/null; then echo "clickhouse server"
  else die "no ClickHouse server found; install Debian's clickhouse-server or set LUISTER_CLICKHOUSE_URL"; fi
}

clickhouse_ping() { curl -fsS "$CLICKHOUSE_URL/ping" >/dev/null; }

start_clickhouse() {
  if [[ -n $EXTERNAL_CLICKHOUSE_URL ]]; then
    log "using the existing ClickHouse at $EXTERNAL_CLICKHOUSE_URL"
    clickhouse_ping || die "ClickHouse at $EXTERNAL_CLICKHOUSE_URL does not answer /ping"
    return 0
  fi
  if pid_alive clickhouse; then log "ClickHouse already running"; return 0; fi
  claim_port "$CH_HTTP_PORT" LUISTER_CLICKHOUSE_HTTP_PORT "ClickHouse HTTP"
  claim_port "$CH_TCP_PORT" LUISTER_CLICKHOUSE_TCP_PORT "ClickHouse native protocol"
  local dir="$LUISTER_HOME/clickhouse"
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
  sed -e "s#@DIR@#$dir#g" -e "s#@HTTP_PORT@#$CH_HTTP_PORT#g" -e "s#@TCP_PORT@#$CH_TCP_PORT#g" \
    -e "s#@LOG_DIR@#$LOG_DIR#g" \
    "$ROOT/deploy/local/clickhouse/config.xml" >"$dir/config.xml"
  cp "$ROOT/deploy/local/clickhouse/users.xml" "$dir/users.xml"
  log "starting ClickHouse on 127.0.0.1:$CH_HTTP_PORT"
  # shellcheck disable=SC2046
  start_bg clickhouse $(clickhouse_bin) --config-file="$dir/config.xml"
  wait_for "ClickHouse" 60 clickhouse_ping
}

# --- Kafka ---------------------------------------------------------------------

# The JVM command that runs a Kafka main class with the fetched jars.
KAFKA_JAVA=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$LUISTER_HOME/kafka/log4j2.properties" -cp "$KAFKA_LIBS/*")

kafka_ready() { # the broker accepts connections and answers metadata
  port_in_use "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOG_DIR/kafka.log"
}

kafka_password() { # USER: the local broker's password of USER, generated once into
  # $LUISTER_HOME/kafka/credentials/USER (readable by its owner only)
  local file="$KAFKA_CREDENTIALS/$1"
  if [[ ! -s $file ]]; then
    mkdir -p "$KAFKA_CREDENTIALS"
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(24))' >"$file")
  fi
  tr -d '\n' <"$file"
}

kafka_admin_properties() { # FILE: client properties of the local broker's administrator, for Kafka's tools
  (umask 077 && printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=PLAIN" \
    "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"$(kafka_password admin)\";" >"$1")
}

apply_kafka_acls() { # what each service may do on the local broker (kept in its metadata; applied once)
  local dir="$LUISTER_HOME/kafka" marker="$LUISTER_HOME/kafka/data/.luister-acls-v1"
  [[ -f $marker ]] && return 0
  log "giving each service its Kafka ACLs (deploy/kafka/acls.sh, once)"
  kafka_admin_properties "$dir/admin.properties"
  bash "$ROOT/deploy/kafka/acls.sh" "127.0.0.1:$KAFKA_PORT" "$dir/admin.properties" \
    "${KAFKA_JAVA[@]}" org.apache.kafka.tools.AclCommand >>"$LOG_DIR/kafka-acls.log" 2>&1 \
    || die "setting the Kafka ACLs failed; see $LOG_DIR/kafka-acls.log"
  touch "$marker"
}

start_kafka() {
  if [[ -n $EXTERNAL_KAFKA_BROKERS ]]; then
    log "using the existing Kafka cluster at $EXTERNAL_KAFKA_BROKERS"
    return 0
  fi
  if pid_alive kafka; then log "Kafka already running"; return 0; fi
  claim_port "$KAFKA_PORT" LUISTER_KAFKA_PORT "Kafka broker"
  claim_port "$KAFKA_CONTROLLER_PORT" LUISTER_KAFKA_CONTROLLER_PORT "Kafka KRaft controller"
  fetch_kafka
  local dir="$LUISTER_HOME/kafka"
  mkdir -p "$dir/data"
  (umask 077 && sed -e "s#@DATA@#$dir/data#g" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
    -e "s#@ADMIN_PASSWORD@#$(kafka_password admin)#g" -e "s#@COLLECTOR_PASSWORD@#$(kafka_password collector)#g" \
    -e "s#@PROCESSOR_PASSWORD@#$(kafka_password processor)#g" -e "s#@LOADGEN_PASSWORD@#$(kafka_password loadgen)#g" \
    "$ROOT/deploy/local/kafka/server.properties" >"$dir/server.properties")
  cp "$ROOT/deploy/local/kafka/log4j2.properties" "$dir/log4j2.properties"
  if [[ ! -f $dir/data/meta.properties ]]; then
    log "formatting the Kafka KRaft storage"
    local cluster_id; cluster_id=$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOG_DIR/kafka-format.log" | tail -n1)
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      >>"$LOG_DIR/kafka-format.log" 2>&1 || die "formatting Kafka storage failed; see $LOG_DIR/kafka-format.log"
  fi
  log "starting Apache Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT"
  : >"$LOG_DIR/kafka.log" # kafka_ready reads this run's log only
  start_bg kafka "${KAFKA_JAVA[@]}" kafka.Kafka "$dir/server.properties"
  wait_for "Kafka" 120 kafka_ready
  apply_kafka_acls
}

# --- Prometheus ----------------------------------------------------------------

render_prometheus_config() { # OUT: the scrape configuration for the three services, with the alert rules beside it
  sed -e "s#@INGEST_PORT@#$INGEST_PORT#g" -e "s#@API_PORT@#$API_PORT#g" -e "s#@PROCESSOR_PORT@#$PROCESSOR_PORT#g" \
    "$ROOT/deploy/local/prometheus.yml" >"$1"
  cp "$ROOT/deploy/prometheus/alerts.yml" "$(dirname "$1")/alerts.yml"
}

start_prometheus() {
  if pid_alive prometheus; then log "Prometheus already running"; return 0; fi
  claim_port "$PROMETHEUS_PORT" LUISTER_PROMETHEUS_PORT "Prometheus"
  local dir="$LUISTER_HOME/prometheus"
  mkdir -p "$dir/data"
  render_prometheus_config "$dir/prometheus.yml"
  log "starting Prometheus on 127.0.0.1:$PROMETHEUS_PORT"
  start_bg prometheus prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
  wait_for "Prometheus" 60 curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}

# --- Luister services ----------------------------------------------------------

build_services() {
  log "building the Luister services (cargo build --release)"
  (cd "$ROOT" && cargo build --release --locked --bins) || die "cargo build failed"
}

# The API's administrator token: LUISTER_ADMIN_TOKEN when set, otherwise one generated
# once and kept in $LUISTER_HOME/admin-token (readable by its owner only). Only its
# SHA-256 goes into the API's configuration.
admin_token() {
  if [[ -n ${LUISTER_ADMIN_TOKEN:-} ]]; then printf '%s' "$LUISTER_ADMIN_TOKEN"; return 0; fi
  local file="$LUISTER_HOME/admin-token"
  if [[ ! -s $file ]]; then
    (umask 077 && python3 -c 'import secrets; print("lst_" + secrets.token_hex(32))' >"$file")
    log "generated an API administrator token in $file"
  fi
  tr -d '\n' <"$file"
}

# The collectors' key that seals the shared visitor salt in Kafka: generated once into
# $LUISTER_HOME/salt-key, readable by its owner only (privacy.salt_key_file).
salt_key_file() {
  local file="$LUISTER_HOME/salt-key"
  if [[ ! -s $file ]]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' >"$file")
    log "generated the collectors' salt key in $file"
  fi
  printf '%s' "$file"
}

kafka_security() { # SERVICE-USER: the [kafka] keys that log a service in to the local broker
  # (nothing for an external one: give it LUISTER_KAFKA__SECURITY_PROTOCOL, __SASL_USERNAME, …)
  [[ -n $EXTERNAL_KAFKA_BROKERS ]] && return 0
  printf 'security_protocol = "sasl_plaintext"\nsasl_mechanism = "PLAIN"\nsasl_username = "%s"\nsasl_password = "%s"\n' \
    "$1" "$(kafka_password "$1")"
}

write_service_configs() {
  local db="${LUISTER_CLICKHOUSE_DATABASE:-luister}" admin_sha salt_key
  admin_sha=$(admin_token | sha256sum | cut -d' ' -f1)
  salt_key=$(salt_key_file)
  for svc in ingest processor api; do
    local user=collector
    [[ $svc == processor ]] && user=processor
    # The files hold passwords: readable by their owner only.
    (umask 077 && sed -e "s#@INGEST_PORT@#$INGEST_PORT#g" -e "s#@API_PORT@#$API_PORT#g" \
      -e "s#@ADMIN_TOKEN_SHA256@#$admin_sha#g" -e "s#@SALT_KEY_FILE@#$salt_key#g" \
      -e "s#@PROCESSOR_PORT@#$PROCESSOR_PORT#g" -e "s#@KAFKA_BROKERS@#$KAFKA_BROKERS#g" \
      -e "s#@CLICKHOUSE_URL@#$CLICKHOUSE_URL#g" -e "s#@DATABASE@#$db#g" \
      "$ROOT/deploy/local/config/$svc.toml" \
      | awk -v security="$(kafka_security "$user")" '{ print } /^\[kafka\]$/ && security != "" { print security }' \
      >"$CONF_DIR/$svc.toml")
  done
}

start_service() { # NAME PORT VARIABLE
  local name=$1 port=$2 var=$3
  if pid_alive "$name"; then log "luister-$name already running"; return 0; fi
  claim_port "$port" "$var" "luister-$name"
  start_bg "$name" "$ROOT/target/release/luister-$name" --config "$CONF_DIR/$name.toml"
  wait_for "luister-$name" 60 curl -fsS "http://127.0.0.1:$port/readyz"
  log "luister-$name ready on 127.0.0.1:$port"
}
