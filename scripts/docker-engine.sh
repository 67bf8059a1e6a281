#!/bin/sh
# Makes sure a Docker engine answers and the docker backend's base image exists (for `make test` and CI).
# As root on a machine without one: installs docker.io and debootstrap, starts
#   dockerd --iptables=false --bridge=none     (no bridge, no iptables: sandboxes get no network anyway)
# in the background (log: var/dockerd.log), then builds the base image (scripts/docker-base-image.sh).
# Fails, saying why, if the engine cannot start: the docker backend's tests never skip.
set -eu
cd "$(dirname "$0")/.."
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" != "0" ]; then
    echo "the docker backend's tests need docker.io and debootstrap: sudo apt-get install -y docker.io debootstrap docker-compose" >&2
    exit 1
  fi
  echo "installing docker.io, debootstrap and docker-compose"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap docker-compose >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = "0" ] || { echo "no Docker engine answers; start one (dockerd) or run as root" >&2; exit 1; }
  mkdir -p var
  echo "starting dockerd --iptables=false --bridge=none (log: var/dockerd.log)"
  setsid dockerd --iptables=false --bridge=none >var/dockerd.log 2>&1 < /dev/null &
  i=0
  until docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 60 ]; then
      echo "dockerd did not start in 60 s; its last words:" >&2
      tail -20 var/dockerd.log >&2
      exit 1
    fi
    sleep 1
  done
fi
exec scripts/docker-base-image.sh
