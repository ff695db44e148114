#!/usr/bin/env bash
# Stand-in for the distribution's kafka-run-class.sh: like it, a tool started in a container
# inherits the broker's KAFKA_HEAP_OPTS.
set -euo pipefail
base_dir=$(dirname "$0")/..
log4j=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml}
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC} $log4j \
  ${KAFKA_OPTS:-} -cp "$base_dir/libs/*" "$@"
