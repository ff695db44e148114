#!/usr/bin/env bash
# Client-side readiness probe: succeeds when the broker answers on the given listener
# (default the compose-network listener). kcat (a metadata request) is native and cheap
# enough to run every couple of seconds next to a JVM broker; on a base image without
# kcat the JVM tool kafka-broker-api-versions asks instead.
set -euo pipefail
bootstrap=${1:-localhost:19092}
if command -v kcat >/dev/null 2>&1; then
  exec kcat -b "$bootstrap" -L -m 5 -q >/dev/null 2>&1
fi
KAFKA_TOOLS_HEAP_OPTS=-Xmx64m exec kafka-broker-api-versions --bootstrap-server "$bootstrap" >/dev/null 2>&1
