# Sourced by the Postgres benches: a throwaway PostgreSQL 15 in "$work" (fsync off, SCRAM),
# pgbench's tables at scale 10, and the least-privileged role hoop uses upstream
# (docs/quickstart.md). Needs $work, $PW, $PGBIN, as_pg and free_port (benches/common.sh); sets $pg_port.
start_bench_pg() { # max_connections
  echo "$PW" > "$work/pw"
  [ "$(id -u)" = 0 ] && chown postgres "$work/pw"
  as_pg "$PGBIN/initdb" -D "$work/data" -U postgres --auth-host=scram-sha-256 --auth-local=trust --pwfile="$work/pw" --no-sync >/dev/null
  pg_port=$(free_port)
  as_pg "$PGBIN/pg_ctl" -D "$work/data" -w -l "$work/pg.log" -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c max_connections=$1 -c shared_buffers=256MB -c fsync=off" start >/dev/null
  export PGSSLMODE=disable
  PGPASSWORD=$PW pgbench -i -s 10 -q -h 127.0.0.1 -p "$pg_port" -U postgres postgres >/dev/null 2>&1
  PGPASSWORD=$PW psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c \
    "CREATE ROLE hoop_gateway LOGIN PASSWORD '$PW'; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO hoop_gateway;" >/dev/null
}
