#!/usr/bin/env bash
# Runs a Kafka tool's main class with a small, fast-starting JVM. The broker's own
# KAFKA_HEAP_OPTS (inherited by `docker exec`) is deliberately not used: tools get
# KAFKA_TOOLS_HEAP_OPTS instead, so a CLI call never reserves the broker's heap.
set -euo pipefail
KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
# shellcheck disable=SC2086
exec java ${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m} \
  ${KAFKA_TOOLS_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true} \
  ${KAFKA_TOOLS_LOG4J_OPTS:-$KAFKARIG_TOOLS_LOG4J_OPTS} ${KAFKA_TOOLS_OPTS:-} \
  -cp "$KAFKA_HOME/libs/*" "$@"
