#!/bin/sh
# Builds the docker backend's base image locally (no image registry is reachable here): a minimal Debian
# bookworm made with debootstrap from the Debian mirror, with Python 3.11 (the Task Standard helper's),
# imported as $DOCKER_BASE_IMAGE (default baselines/base:bookworm). Idempotent: does nothing if it exists.
# Usage: scripts/docker-base-image.sh [--force]
set -eu
IMAGE="${DOCKER_BASE_IMAGE:-baselines/base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if [ "${1:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE: present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
dir=$(mktemp -d /tmp/baselines-rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "building base image $IMAGE from $MIRROR (a few minutes)"
debootstrap --variant=minbase --include=python3,procps,ca-certificates bookworm "$dir/root" "$MIRROR" >"$dir/log" 2>&1 \
  || { tail -20 "$dir/log" >&2; exit 1; }
rm -rf "$dir/root/var/cache/apt/archives"/*.deb "$dir/root/var/lib/apt/lists"/*
tar -C "$dir/root" -c . | docker import --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
echo "base image $IMAGE: built"
