#!/bin/sh
# The official image's first start, in short: an empty data directory is initialised with POSTGRES_USER
# (password POSTGRES_PASSWORD, scram) and POSTGRES_DB; then the server runs as postgres, reachable by
# password from the container network.
set -eu
if [ "${1:-}" = "postgres" ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    user="${POSTGRES_USER:-postgres}"
    pwfile=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile" && chown postgres "$pwfile"
    gosu postgres initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    db="${POSTGRES_DB:-$user}"
    if [ "$db" != "postgres" ]; then
      gosu postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
      gosu postgres psql -v ON_ERROR_STOP=1 -q -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
      gosu postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "initialised $PGDATA: database $db, user $user"
  fi
  exec gosu postgres "$@"
fi
exec "$@"
