#!/bin/sh
# Installs the system packages the platform and its tests need, when missing and running as root;
# otherwise prints the exact install command and fails.   Usage: scripts/system-deps.sh [run|test]
set -e
need="bubblewrap:bwrap util-linux:nsenter gcc:gcc"
if [ "$1" = "test" ]; then need="$need chromium:chromium"; fi
missing=""
for pair in $need; do
  pkg=${pair%%:*}; cmd=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "installing system packages:$missing"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
else
  echo "missing system packages:$missing" >&2
  echo "install them with:  sudo apt-get install -y$missing" >&2
  exit 1
fi
