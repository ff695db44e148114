#!/usr/bin/env bash
# Readiness probe of kafkarig's compose healthchecks, in bash alone (no JVM, no kcat), so it
# costs a few milliseconds on every image flavor:
#   kafkarig-probe kafka IP:PORT        sends a Kafka ApiVersions (v0) request and succeeds
#                                       when the broker answers it without an error: the
#                                       broker processes requests only once it has started.
#   kafkarig-probe zookeeper IP:PORT    sends the "srvr" four-letter word (allowed by
#                                       default) and succeeds when ZooKeeper reports a Mode.
# Give an IP (127.0.0.1): bash may resolve localhost to ::1, which a container may lack.
set -u
export LC_ALL=C
kind=${1:?usage: kafkarig-probe kafka|zookeeper HOST:PORT}
address=${2:?usage: kafkarig-probe kafka|zookeeper HOST:PORT}
timeout_s=${KAFKARIG_PROBE_TIMEOUT_S:-5}
{ exec 3<>"/dev/tcp/${address%:*}/${address##*:}"; } 2>/dev/null || exit 1

case "$kind" in
  kafka)
    # size 24 | api key 18 (ApiVersions) | version 0 | correlation id 42 | client id, 14 bytes
    printf '\x00\x00\x00\x18\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x0ekafkarig-probe' >&3
    header=""
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      byte=""
      # With -d '' a NUL byte ends the read at once (status 0, empty value), so every byte
      # is seen; end of stream or the timeout fails the probe.
      IFS= read -r -d '' -n 1 -t "$timeout_s" byte <&3 || exit 1
      printf -v hex '%02x' "'$byte"
      header+=$hex
    done
    # response: size (4 bytes) | correlation id 42 | error code 0 (none)
    [ "${header:8:8}" = 0000002a ] && [ "${header:16:4}" = 0000 ]
    ;;
  zookeeper)
    printf 'srvr' >&3
    while IFS= read -r -t "$timeout_s" line <&3; do
      case "$line" in "Mode: "*) exit 0 ;; esac
    done
    exit 1
    ;;
  *)
    echo "kafkarig-probe: unknown kind $kind (kafka or zookeeper)" >&2
    exit 64
    ;;
esac
