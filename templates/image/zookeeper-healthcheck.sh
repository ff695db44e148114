#!/usr/bin/env bash
# Client-side readiness probe: ZooKeeper answers "imok" to the ruok four-letter word.
set -euo pipefail
port=${1:-${ZOOKEEPER_CLIENT_PORT:-2181}}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'ruok' >&3
read -r -t 5 -n 4 answer <&3
[ "$answer" = imok ]
