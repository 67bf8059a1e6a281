#!/bin/sh
# A minimal Debian root file system as a local Docker image (no image registry is reachable here):
# debootstrap --variant=minbase SUITE, imported as IMAGE. Does nothing if IMAGE exists, unless --force.
# The mirror is $DEBIAN_MIRROR, else the first Debian archive of this machine's apt sources (never a host
# written here). Used by docker-base-image.sh (bookworm) and platform-images.sh (trixie, bookworm).
# Usage: scripts/debian-rootfs.sh SUITE IMAGE [--force]
set -eu
SUITE="$1"
IMAGE="$2"
if [ "${3:-}" != "--force" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

apt_mirror() {
  # deb822 files (URIs: ...) and one-line files (deb [options] URI suite ...): the first Debian archive
  # that is not the security one
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }'
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }'
  } | grep -E '/debian/?$' | head -1
}

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
MIRROR="${DEBIAN_MIRROR:-$(apt_mirror)}"
[ -n "$MIRROR" ] || { echo "no Debian mirror in /etc/apt/sources*: set DEBIAN_MIRROR" >&2; exit 1; }
dir=$(mktemp -d /tmp/baselines-rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
echo "debootstrap of $SUITE from $MIRROR into $IMAGE (a few minutes)"
debootstrap --variant=minbase "$SUITE" "$dir/root" "$MIRROR" >"$dir/log" 2>&1 || { tail -20 "$dir/log" >&2; exit 1; }
rm -rf "$dir/root/var/cache/apt/archives"/*.deb "$dir/root/var/lib/apt/lists"/*
tar -C "$dir/root" -c . | docker import --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
