#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the store tests and export
# KAM_SYNC_TEST_POSTGRES_URL. Sourced by .ci/run; installs Debian's server when it is missing.
# If no server can be started, the PostgreSQL tests are skipped with that reason (not failed).

pg_bin=""
find_pg_bin() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
}
find_pg_bin
if [ -z "$pg_bin" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ci: installing PostgreSQL from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "ci: could not install PostgreSQL"
  find_pg_bin
fi
if [ -z "$pg_bin" ]; then
  echo "ci: no PostgreSQL server available; its tests will be skipped"
  return 0 2>/dev/null || exit 0
fi

pg_user=postgres
id -u "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home "$pg_user"
# A fresh directory for the cluster, its socket and its logs; removed when CI ends.
pg_dir=$(mktemp -d)
chown "$pg_user" "$pg_dir"
pg_port=${KAM_SYNC_CI_PG_PORT:-55432}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }

if as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
  && as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
       -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
  export KAM_SYNC_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  echo "ci: PostgreSQL started at 127.0.0.1:$pg_port"
  stop_postgres() {
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  }
  trap stop_postgres EXIT
else
  echo "ci: PostgreSQL did not start; its tests will be skipped"
  cat "$pg_dir/initdb.log" "$pg_dir/server.log" 2>/dev/null | tail -n 20
  rm -rf "$pg_dir"
fi
