#!/usr/bin/env bash
# Runs kafkarig's nox sessions on any Debian 12 / Ubuntu machine, bare or not: provisions
# what is missing (infra/provision.sh, as root: with sudo when not root), puts nox (with uv)
# into an environment of its own under .kafkarig/.tools, then runs the sessions.
#
#   bash infra/run.sh up smoke down                 # the main job
#   bash infra/run.sh lint tests                    # the project's own checks
#   bash infra/run.sh up -- --stack other.toml      # arguments after -- go to the sessions
#
# The local images are built by the sessions that need them (`up`, the integration tests)
# when they are missing. Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

NOX_REQUIREMENT="nox[uv]>=2025.2.9"
TOOLS=.kafkarig/.tools

say() { echo "run: $*" >&2; }
die() { echo "run: error: $1" >&2; [ -n "${2:-}" ] && echo "run: hint: $2" >&2; exit 1; }

if [ "$#" = 0 ]; then
  die "name the sessions to run." "bash infra/run.sh up smoke down   (or: lint tests)"
fi

machine_ready() {
  command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 &&
    docker compose version >/dev/null 2>&1 && command -v kcat >/dev/null 2>&1 &&
    command -v mmdebstrap >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 &&
    command -v java >/dev/null 2>&1 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

if ! machine_ready; then
  say "this machine lacks part of what kafkarig needs; provisioning (infra/provision.sh)"
  if [ "$(id -u)" = 0 ]; then
    bash infra/provision.sh
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E bash infra/provision.sh
  else
    die "provisioning installs packages and starts dockerd, so it needs root, and sudo is missing." \
      "run 'bash infra/provision.sh' as root once, then run this again."
  fi
fi

if [ ! -x "$TOOLS/bin/nox" ]; then
  say "installing nox and uv into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "$NOX_REQUIREMENT" ||
    die "pip could not install $NOX_REQUIREMENT into $TOOLS." "check that PyPI is reachable."
fi
export PATH="$PWD/$TOOLS/bin:$PATH"

# The local base image is made with mmdebstrap, which needs root; a user who is not root
# builds the images once through sudo, and every later session finds them.
if [ "$(id -u)" != 0 ] && ! docker image inspect kafkarig/jre:17-bookworm >/dev/null 2>&1; then
  command -v sudo >/dev/null 2>&1 ||
    die "the local base image needs root to build (mmdebstrap), and sudo is missing." \
      "run 'nox -s image' as root once, then run this again."
  say "building the local images as root (mmdebstrap needs it)"
  sudo -E env PATH="$PATH" nox -s image
fi

sessions=()
while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
  sessions+=("$1")
  shift
done
exec nox -s "${sessions[@]}" "$@"
