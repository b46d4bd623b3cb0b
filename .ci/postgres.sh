# A throwaway PostgreSQL 15 cluster (Debian's package, no Docker) in a temporary folder, on loopback, on a free port.
# Sourced by test.sh and bench.sh:
#   install_postgres || exit 2     # apt-get install postgresql-15 when missing
#   trap stop_postgres EXIT        # stops the cluster and deletes its folder
#   start_postgres || exit 1       # sets pg_port (and pg_dir); prints the logs when it cannot start
# Each test app makes and drops its own database in it (SELFTUNE_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres").
PG_BIN=/usr/lib/postgresql/15/bin
pg_dir=""
pg_port=""

install_postgres() {
  [ -x "$PG_BIN/postgres" ] && return 0
  echo "Installing PostgreSQL 15 for the PostgreSQL run..."
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql-15 >/dev/null \
    || { echo "Could not install PostgreSQL (apt-get install postgresql-15)." >&2; return 2; }
}

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; } # initdb refuses to run as root

start_postgres() {
  pg_dir=$(mktemp -d /tmp/selftune-pg.XXXXXX)
  [ "$(id -u)" -eq 0 ] && chown postgres "$pg_dir"
  pg_port=55432
  while (echo >"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; do pg_port=$((pg_port + 1)); done
  # Durability settings off: the cluster is thrown away, and fsyncs would dominate the run.
  as_pg "$PG_BIN/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
    && as_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w start -o "-p $pg_port -k $pg_dir \
         -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
    || { echo "Could not start PostgreSQL (see $pg_dir)." >&2; cat "$pg_dir"/*.log >&2; return 1; }
}

stop_postgres() {
  [ -n "$pg_dir" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pg_dir"
}
