#!/usr/bin/env bash
# Where hoop's CPU goes per Postgres statement: hoop-pg (release, line tables) under callgrind
# while `pgbench -S -c 1` runs N transactions through it, on the same setup as benches/pg.sh.
# callgrind counts instructions, not seconds, so its figures repeat on a busy machine.
# Prints `pg_instructions_per_txn: N` and keeps the profile (callgrind_annotate) in $OUT.
# Usage: benches/pg-profile.sh [transactions] [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
root=$(pwd)
N=${1:-3000}
OUT=${2:-/tmp/hoop-pg-profile}
mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }
cargo build --release -q -p examples --bin hoop-pg
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/hoop-prof.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
PW=bench-password
. "$root/benches/pg-server.sh"
. "$root/benches/hoop-config.sh"
start_bench_pg 20

h_port=$(free_port)
SECRET=bench-secret-0123456789
cat > "$work/hoop.toml" <<EOT
data_dir = "$work/hoop-data"
[listeners]
postgres = "127.0.0.1:$h_port"
$(pg_target)
$(bench_budgets)
[[static_identities]]
subject = "bench"
secret = "$SECRET"
EOT
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out" \
  "$root/target/release/hoop-pg" --config "$work/hoop.toml" >"$work/hoop.log" 2>&1 &
hoop_pid=$!
for _ in $(seq 1 600); do (echo > "/dev/tcp/127.0.0.1/$h_port") 2>/dev/null && break; sleep 0.1; done
pgb() { PGPASSWORD=$SECRET pgbench -n -h 127.0.0.1 -p "$h_port" -U bench -S -c 1 "$@" postgres 2>&1; }
# Warm up (first statements fill the catalog and shape caches), then count N transactions.
pgb -t 200 | tail -3
callgrind_control -i on "$hoop_pid" >/dev/null
pgb -t "$N" | tail -4
callgrind_control -i off "$hoop_pid" >/dev/null
kill "$hoop_pid"; wait "$hoop_pid" 2>/dev/null || true; hoop_pid=""
rm -rf "$OUT/hoop-data"; cp -r "$work/hoop-data" "$OUT/hoop-data"
f=$(ls -t "$OUT"/callgrind.out* | head -1)
total=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
callgrind_annotate --inclusive=yes "$f" > "$OUT/inclusive.txt" 2>/dev/null || true
callgrind_annotate "$f" > "$OUT/self.txt" 2>/dev/null || true
echo "pg_instructions_per_txn: $((total / N))"
echo "profile: $OUT/inclusive.txt $OUT/self.txt"
