#!/usr/bin/env bash
# The Kafka ACLs of a Luister installation: what each service may do, and nothing
# more. Every deployment runs this same file against its broker (deploy/local/lib.sh,
# the kafka-acls service of deploy/compose, the kafka-acls Job of deploy/kubernetes,
# whose ConfigMap holds a copy that deploy/check.py keeps equal to it). The brokers
# must authorise (StandardAuthorizer, allow.everyone.if.no.acl.found=false) and know
# the users by SASL; running it again changes nothing.
#
#   acls.sh BOOTSTRAP_SERVERS ADMIN_CLIENT_PROPERTIES [ACL_COMMAND ...]
#
# ACL_COMMAND is how to run Kafka's AclCommand (default: kafka-acls.sh on the PATH).
# Users: collector (luister-ingest), processor (luister-processor), loadgen (the load
# generator's demo history; leave it out in production). Topics are matched by prefix,
# so the default names (luister.events.v1, luister.events.dlq.v1, luister.salts.v1)
# and their later versions are covered.
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 BOOTSTRAP_SERVERS ADMIN_CLIENT_PROPERTIES [ACL_COMMAND ...]" >&2
  exit 2
fi
bootstrap=$1 properties=$2
shift 2
if (($#)); then command=("$@"); else command=(kafka-acls.sh); fi
acl() {
  "${command[@]}" --bootstrap-server "$bootstrap" --command-config "$properties" --add --force "$@"
}
events=(--resource-pattern-type prefixed --topic luister.events)

# The collector writes events and is the only one that reads, writes and deletes the
# visitor salts.
acl --allow-principal User:collector --operation Write --operation Describe --operation Create "${events[@]}"
acl --allow-principal User:collector --operation All --resource-pattern-type prefixed --topic luister.salts
acl --allow-principal User:collector --operation Read --resource-pattern-type prefixed --group luister-ingest
# The processor reads events, writes dead letters, and consumes in its group.
acl --allow-principal User:processor --operation Read --operation Describe --operation Create "${events[@]}"
acl --allow-principal User:processor --operation Write --resource-pattern-type prefixed --topic luister.events.dlq
acl --allow-principal User:processor --operation Read --operation Describe --resource-pattern-type prefixed --group luister-processor
# The load generator writes events.
acl --allow-principal User:loadgen --operation Write --operation Describe --operation Create "${events[@]}"
# Idempotent producers (the collector's, the processor's dead letters, the generator's).
acl --allow-principal User:collector --allow-principal User:processor --allow-principal User:loadgen \
  --operation IdempotentWrite --cluster
