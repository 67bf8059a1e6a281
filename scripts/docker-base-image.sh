#!/bin/sh
# Builds the docker backend's base image locally (no image registry is reachable here): the METR Task
# Standard's reference environment (python:3.11 and the reference Dockerfile's layers; docs/sandbox.md
# has the table), tagged $DOCKER_BASE_IMAGE (default baselines/base:bookworm), in two cached steps:
#   1. a minimal Debian bookworm by debootstrap, imported as baselines/rootfs:bookworm (debian-rootfs.sh);
#   2. images/task-base/Dockerfile on it (`docker build --network host`: apt and pip reach the registries),
#      labelled with the digest of what went in (the Dockerfile, the metr_task_standard package, the extras).
# Run again, it does nothing unless that digest changed. The Debian mirror is $DEBIAN_MIRROR, else the
# first Debian archive of this machine's apt sources. Optional layers: DOCKER_BASE_EXTRAS (extras.sh).
# The image trusts what this machine trusts: the CA bundle $DOCKER_BUILD_CA_BUNDLE (default $SSL_CERT_FILE,
# else /etc/ssl/certs/ca-certificates.crt) is added to Debian's, so that pip, git and curl in a family's
# install() work behind a TLS-inspecting proxy as they do on the host.
# Usage: scripts/docker-base-image.sh [--force]
set -eu
cd "$(dirname "$0")/.."
IMAGE="${DOCKER_BASE_IMAGE:-baselines/base:bookworm}"
ROOTFS="${DOCKER_ROOTFS_IMAGE:-baselines/rootfs:bookworm}"
EXTRAS="${DOCKER_BASE_EXTRAS:-}"
LABEL=org.baselines.base-digest
CA_BUNDLE="${DOCKER_BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
[ -f "$CA_BUNDLE" ] || CA_BUNDLE=/dev/null

digest=$(
  { cat images/task-base/Dockerfile images/task-base/extras.sh images/task-base/metr-task-standard/pyproject.toml
    find tasks/helper/metr_task_standard -name '*.py' | sort | xargs cat
    cat "$CA_BUNDLE"
    echo "extras=$EXTRAS"
  } | sha256sum | cut -c1-16
)
if [ "${1:-}" != "--force" ] \
  && [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$IMAGE" 2>/dev/null)" = "$digest" ]; then
  echo "base image $IMAGE: present ($digest)"
  exit 0
fi

dir=$(mktemp -d /tmp/baselines-base.XXXXXX)
trap 'rm -rf "$dir"' EXIT
scripts/debian-rootfs.sh bookworm "$ROOTFS" ${1:-}

echo "building base image $IMAGE ($digest; extras: ${EXTRAS:-none})"
mkdir "$dir/context"
cp -r images/task-base/. "$dir/context/"
cp -r tasks/helper/metr_task_standard "$dir/context/metr-task-standard/"
cp "$CA_BUNDLE" "$dir/context/build-host-ca.crt"
find "$dir/context" -name __pycache__ -prune -exec rm -rf {} +
DOCKER_BUILDKIT=0 docker build -q --network host --label "$LABEL=$digest" --build-arg "ROOTFS=$ROOTFS" \
  --build-arg "EXTRAS=$EXTRAS" -t "$IMAGE" "$dir/context" >"$dir/build.log" 2>&1 \
  || { tail -30 "$dir/build.log" >&2; exit 1; }
echo "base image $IMAGE: built"
