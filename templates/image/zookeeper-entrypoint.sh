#!/usr/bin/env bash
# Entrypoint of kafkarig's local ZooKeeper image. It honours cp-zookeeper's environment
# contract: ZOOKEEPER_FOO_BAR=x becomes fooBar=x in zoo.cfg (ZOOKEEPER_CLIENT_PORT ->
# clientPort, ZOOKEEPER_TICK_TIME -> tickTime, ...); ZOOKEEPER_SERVER_ID is written to myid
# and ZOOKEEPER_SERVERS ("host:2888:3888;host2:2888:3888") becomes server.N lines.
# KAFKA_HEAP_OPTS / KAFKA_OPTS set the JVM options, as in cp-zookeeper.
# Usage: zookeeper-entrypoint [start | print-config | <any command>...]
set -euo pipefail

ZK_HOME=${ZK_HOME:-/opt/zookeeper}
CONFIG_DIR=${KAFKARIG_CONFIG_DIR:-$ZK_HOME/config}
DATA_DIR=${ZOOKEEPER_DATA_DIR:-/var/lib/zookeeper/data}
LOG_DIR=${ZOOKEEPER_DATA_LOG_DIR:-/var/lib/zookeeper/log}

die() {
  echo "zookeeper-entrypoint: error: $1" >&2
  [ -n "${2:-}" ] && echo "zookeeper-entrypoint: hint: $2" >&2
  exit 64
}

# ZOOKEEPER_CLIENT_PORT -> clientPort
env_to_key() {
  local name=${1#ZOOKEEPER_} word key="" first=1
  local IFS=_
  for word in ${name,,}; do
    if [ "$first" = 1 ]; then key=$word; first=0; else key+=${word^}; fi
  done
  printf '%s' "$key"
}

print_config() {
  [ -n "${ZOOKEEPER_CLIENT_PORT:-}" ] || die "ZOOKEEPER_CLIENT_PORT is required." "set ZOOKEEPER_CLIENT_PORT=2181."
  local var
  printf 'dataDir=%s\ndataLogDir=%s\n' "$DATA_DIR" "$LOG_DIR"
  printf '4lw.commands.whitelist=%s\n' "${ZOOKEEPER_4LW_WHITELIST:-ruok,srvr,stat}"
  while IFS= read -r var; do
    case "$var" in
      ZOOKEEPER_SERVERS | ZOOKEEPER_SERVER_ID | ZOOKEEPER_DATA_DIR | ZOOKEEPER_DATA_LOG_DIR | ZOOKEEPER_4LW_WHITELIST | ZOOKEEPER_LOG_LEVEL) continue ;;
      ZOOKEEPER_*) printf '%s=%s\n' "$(env_to_key "$var")" "${!var}" ;;
    esac
  done < <(compgen -e | LC_ALL=C sort)
  if [ -n "${ZOOKEEPER_SERVERS:-}" ]; then
    local index=1 server
    local IFS=';'
    for server in $ZOOKEEPER_SERVERS; do
      printf 'server.%s=%s\n' "$index" "$server"
      index=$((index + 1))
    done
  fi
}

start() {
  mkdir -p "$CONFIG_DIR" "$DATA_DIR" "$LOG_DIR"
  print_config >"$CONFIG_DIR/zoo.cfg"
  if [ -n "${ZOOKEEPER_SERVER_ID:-}" ]; then
    printf '%s\n' "$ZOOKEEPER_SERVER_ID" >"$DATA_DIR/myid"
  fi
  echo "zookeeper-entrypoint: ZooKeeper ${KAFKARIG_ZOOKEEPER_VERSION:-}, zoo.cfg:"
  sed 's/^/    /' "$CONFIG_DIR/zoo.cfg"
  # shellcheck disable=SC2086 # the *_OPTS variables are word lists by contract
  exec java ${KAFKA_HEAP_OPTS:--Xmx512M -Xms512M} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -Djava.awt.headless=true} \
    -Dlogback.configurationFile="$CONFIG_DIR/logback.xml" -Dzookeeper.admin.enableServer=false \
    ${KAFKA_OPTS:-} -cp "$ZK_HOME/libs/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$CONFIG_DIR/zoo.cfg"
}

case "${1:-start}" in
  start) start ;;
  print-config) print_config ;;
  *) exec "$@" ;;
esac
