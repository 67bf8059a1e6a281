#!/bin/sh
# Builds the composed stack's images locally, for a machine that reaches Debian's mirror and PyPI but no
# image registry (docs/deployment.md, "Images without a registry"):
#   baselines/python:3.13-trixie   Python 3.13 from Debian trixie (the platform image's BASE)
#   $PLATFORM_IMAGE                the platform (Dockerfile), default baselines/platform:latest
#   $POSTGRES_IMAGE, $REDIS_IMAGE  PostgreSQL 15 and Redis 7 from Debian bookworm's packages, standing in
#                                  for the official images (default baselines/postgres:15, baselines/redis:7)
# and the sandboxes' base image (docker-base-image.sh). Each is labelled with the digest of what went into
# it: run again, a script does nothing for an image whose inputs did not change. The Debian mirror is
# $DEBIAN_MIRROR, else the first Debian archive of this machine's apt sources (debian-rootfs.sh). The CA
# bundle the build trusts: $DOCKER_BUILD_CA_BUNDLE (default $SSL_CERT_FILE, else Debian's).
# Usage: scripts/platform-images.sh [--force]    (after `make frontend`: the browser assets are copied)
set -eu
cd "$(dirname "$0")/.."
FORCE="${1:-}"
PYTHON_BASE="${PLATFORM_BASE_IMAGE:-baselines/python:3.13-trixie}"
PLATFORM="${PLATFORM_IMAGE:-baselines/platform:latest}"
POSTGRES="${POSTGRES_IMAGE:-baselines/postgres:15}"
REDIS="${REDIS_IMAGE:-baselines/redis:7}"
LABEL=org.baselines.digest
CA_BUNDLE="${DOCKER_BUILD_CA_BUNDLE:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
[ -f "$CA_BUNDLE" ] || CA_BUNDLE=/dev/null
[ -f frontend/dist/.built ] || { echo "frontend/dist is not built: make frontend" >&2; exit 1; }

# build IMAGE DIGEST CONTEXT [docker build options]: unless IMAGE carries DIGEST already
build() {
  image="$1" digest="$2" context="$3"
  shift 3
  if [ "$FORCE" != "--force" ] \
    && [ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null)" = "$digest" ]; then
    echo "$image: present ($digest)"
    return 0
  fi
  echo "building $image ($digest)"
  started=$(date +%s)
  log=$(mktemp /tmp/baselines-build.XXXXXX)
  DOCKER_BUILDKIT=0 docker build -q --network host --label "$LABEL=$digest" -t "$image" "$@" "$context" \
    >"$log" 2>&1 || { tail -30 "$log" >&2; rm -f "$log"; exit 1; }
  rm -f "$log"
  echo "$image: built in $(($(date +%s) - started)) s"
}

# a digest of files (and any extra words) for the labels
digest_of() { { for f in "$@"; do if [ -f "$f" ]; then cat "$f"; else echo "$f"; fi; done; } | sha256sum | cut -c1-16; }

scripts/debian-rootfs.sh trixie baselines/rootfs:trixie $FORCE
scripts/debian-rootfs.sh bookworm baselines/rootfs:bookworm $FORCE

ctx=$(mktemp -d /tmp/baselines-python.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp images/python/Dockerfile "$ctx/" && cp "$CA_BUNDLE" "$ctx/build-host-ca.crt"
build "$PYTHON_BASE" "$(digest_of images/python/Dockerfile "$CA_BUNDLE")" "$ctx"
build "$POSTGRES" "$(digest_of images/postgres/Dockerfile images/postgres/entrypoint.sh)" images/postgres
build "$REDIS" "$(digest_of images/redis/Dockerfile images/redis/entrypoint.sh)" images/redis

# The platform: everything the build context holds (.dockerignore), and the base it was built on.
base_id=$(docker image inspect -f '{{.Id}}' "$PYTHON_BASE")
platform_digest=$(
  { git ls-files -z -co --exclude-standard -- Dockerfile .dockerignore pyproject.toml manage.py config sandbox \
      tasks terminal baselining api horizons templates examples | sort -z | xargs -0 cat 2>/dev/null
    find frontend/dist -type f -print0 | sort -z | xargs -0 cat
    echo "$base_id"
  } | sha256sum | cut -c1-16
)
build "$PLATFORM" "$platform_digest" . --build-arg "BASE=$PYTHON_BASE"

scripts/docker-base-image.sh $FORCE
