#!/bin/sh
# As the official image: redis-server runs as redis, in /data, without protected mode.
set -eu
if [ "${1:-}" = "redis-server" ]; then
  chown -R redis:redis /data
  shift
  exec gosu redis redis-server --protected-mode no "$@"
fi
exec "$@"
