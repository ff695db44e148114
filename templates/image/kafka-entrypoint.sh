#!/usr/bin/env bash
# Entrypoint of kafkarig's local Kafka image. It honours the official images' environment
# contract (apache/kafka, confluentinc/cp-kafka), so one compose template serves all flavors:
#   KAFKA_FOO_BAR=x      -> foo.bar=x      (KAFKA_ prefix dropped, lower-cased, _ -> .)
#   KAFKA_FOO__BAR=x     -> foo_bar=x      (__ -> _)
#   KAFKA_FOO___BAR=x    -> foo-bar=x      (___ -> -)
#   *_OPTS, KAFKA_LOG4J_*, KAFKA_JMX_*, KAFKA_TOOLS_*, KAFKA_VERSION, KAFKA_HOME,
#   KAFKA_DEBUG are JVM/launcher settings, not properties.
#   CLUSTER_ID is required when KAFKA_PROCESS_ROLES is set (KRaft); storage is formatted on
#   first start and left alone when already formatted. Without KAFKA_PROCESS_ROLES the
#   broker runs in ZooKeeper mode (Kafka 3.x only) and needs KAFKA_ZOOKEEPER_CONNECT.
#   listeners defaults to the advertised listeners with every host replaced by 0.0.0.0.
# Usage: kafka-entrypoint [start | print-properties | <any command>...]
set -euo pipefail

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
CONFIG_DIR=${KAFKARIG_CONFIG_DIR:-$KAFKA_HOME/config}
KAFKA_VERSION_OF_IMAGE=${KAFKARIG_KAFKA_VERSION:-unknown}

die() {
  echo "kafka-entrypoint: error: $1" >&2
  [ -n "${2:-}" ] && echo "kafka-entrypoint: hint: $2" >&2
  exit 64
}

is_launcher_variable() {
  case "$1" in
    *_OPTS | KAFKA_LOG4J_* | KAFKA_JMX_* | KAFKA_TOOLS_* | KAFKA_VERSION | KAFKA_HOME | KAFKA_DEBUG) return 0 ;;
  esac
  return 1
}

# KAFKA_FOO___BAR__BAZ_QUX -> foo-bar_baz.qux
env_to_property() {
  local name=${1#KAFKA_}
  name=${name,,}
  name=${name//___/-}
  name=${name//__/%}
  name=${name//_/.}
  name=${name//%/_}
  printf '%s' "$name"
}

derived_listeners() {
  # NAME://host:port,NAME2://[::1]:port -> NAME://0.0.0.0:port,...
  sed -E 's#://(\[[^]]*\]|[^:,]*):#://0.0.0.0:#g' <<<"$1"
}

print_properties() {
  local var
  local have_listeners=0 have_log_dirs=0
  while IFS= read -r var; do
    case "$var" in KAFKA_*) ;; *) continue ;; esac
    is_launcher_variable "$var" && continue
    [ "$var" = KAFKA_LISTENERS ] && have_listeners=1
    [ "$var" = KAFKA_LOG_DIRS ] && have_log_dirs=1
    printf '%s=%s\n' "$(env_to_property "$var")" "${!var}"
  done < <(compgen -e | LC_ALL=C sort)
  if [ "$have_listeners" = 0 ] && [ -n "${KAFKA_ADVERTISED_LISTENERS:-}" ]; then
    printf 'listeners=%s\n' "$(derived_listeners "$KAFKA_ADVERTISED_LISTENERS")"
  fi
  if [ "$have_log_dirs" = 0 ]; then
    printf 'log.dirs=/var/lib/kafka/data\n'
  fi
}

check_mode() {
  if [ -n "${KAFKA_PROCESS_ROLES:-}" ]; then
    [ -n "${CLUSTER_ID:-}" ] || die "CLUSTER_ID is required when KAFKA_PROCESS_ROLES is set (KRaft mode)." \
      "set CLUSTER_ID to a 22-character base64 UUID, e.g. the output of 'kafka-storage random-uuid'."
  else
    case "$KAFKA_VERSION_OF_IMAGE" in
      [4-9].* | [1-9][0-9].*)
        die "Kafka $KAFKA_VERSION_OF_IMAGE has no ZooKeeper mode and KAFKA_PROCESS_ROLES is not set." \
          "set KAFKA_PROCESS_ROLES (e.g. broker,controller), KAFKA_CONTROLLER_QUORUM_VOTERS and CLUSTER_ID, or use the Kafka 3.9 image for ZooKeeper mode." ;;
    esac
    [ -n "${KAFKA_ZOOKEEPER_CONNECT:-}" ] || die "neither KAFKA_PROCESS_ROLES (KRaft) nor KAFKA_ZOOKEEPER_CONNECT (ZooKeeper mode) is set." \
      "set KAFKA_PROCESS_ROLES, KAFKA_CONTROLLER_QUORUM_VOTERS and CLUSTER_ID for KRaft."
  fi
}

property_value() {
  sed -n "s/^$1=//p" "$CONFIG_DIR/server.properties" | tail -n 1
}

format_storage_once() {
  [ -n "${KAFKA_PROCESS_ROLES:-}" ] || return 0
  local dirs dir unformatted=0
  dirs=$(property_value 'log\.dirs')
  local meta_dir
  meta_dir=$(property_value 'metadata\.log\.dir')
  for dir in ${dirs//,/ } $meta_dir; do
    [ -f "$dir/meta.properties" ] || unformatted=1
  done
  if [ "$unformatted" = 0 ]; then
    echo "kafka-entrypoint: storage already formatted, keeping it"
    return 0
  fi
  local extra=()
  if [ -z "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ] && [[ "$KAFKA_PROCESS_ROLES" == *controller* ]]; then
    extra+=(--standalone)
  fi
  echo "kafka-entrypoint: formatting storage for cluster $CLUSTER_ID"
  kafka-storage format --ignore-formatted -t "$CLUSTER_ID" -c "$CONFIG_DIR/server.properties" "${extra[@]}"
}

start() {
  check_mode
  mkdir -p "$CONFIG_DIR"
  print_properties >"$CONFIG_DIR/server.properties"
  echo "kafka-entrypoint: Kafka $KAFKA_VERSION_OF_IMAGE, server.properties:"
  sed 's/^/    /' "$CONFIG_DIR/server.properties"
  format_storage_once
  # shellcheck disable=SC2086 # the *_OPTS variables are word lists by contract
  exec java ${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
    ${KAFKA_GC_LOG_OPTS:-} ${KAFKA_JMX_OPTS:-} \
    ${KAFKA_LOG4J_OPTS:-$KAFKARIG_LOG4J_OPTS} -Dkafka.root.loglevel="${KAFKA_LOG4J_ROOT_LOGLEVEL:-INFO}" \
    ${KAFKA_OPTS:-} \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$CONFIG_DIR/server.properties"
}

case "${1:-start}" in
  start) start ;;
  print-properties) check_mode && print_properties ;;
  *) exec "$@" ;;
esac
