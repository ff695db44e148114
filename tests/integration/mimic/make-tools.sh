#!/usr/bin/env bash
# Writes the Kafka tools of a stand-in image from the local image's tool wrappers, in the
# layout of the image it stands in for.
# Usage: make-tools.sh LOCAL_BIN TARGET_DIR SUFFIX RUN_CLASS
#   e.g. make-tools.sh /tmp/local-bin /opt/kafka/bin .sh /opt/kafka/bin/kafka-run-class.sh
set -euo pipefail
local_bin=$1 target=$2 suffix=$3 run_class=$4
mkdir -p "$target"
for wrapper in "$local_bin"/kafka-*; do
  name=$(basename "$wrapper")
  case "$name" in *.sh | kafka-run-class | kafka-entrypoint | kafka-healthcheck) continue ;; esac
  main_class=$(sed -n 's/^exec kafka-run-class \([^ ]*\) .*/\1/p' "$wrapper")
  [ -n "$main_class" ] || { echo "no main class in $wrapper" >&2; exit 1; }
  printf '#!/usr/bin/env bash\nexec %s %s "$@"\n' "$run_class" "$main_class" >"$target/$name$suffix"
  chmod 0755 "$target/$name$suffix"
done
