#!/usr/bin/env bash
# Client-side readiness probe: succeeds when the broker answers a metadata request on the
# given listener (default the compose-network listener). kcat is native, so the probe is
# cheap enough to run every couple of seconds next to a JVM broker.
set -euo pipefail
exec kcat -b "${1:-localhost:19092}" -L -m 5 -q >/dev/null 2>&1
