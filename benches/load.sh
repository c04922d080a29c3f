#!/usr/bin/env bash
# Load without loss: SESSIONS concurrent Postgres sessions (default 500) x STATEMENTS statements
# each (default 1000), through `hoop serve` with its defaults (default agent rules, masking,
# recording on), then the recordings are counted and verified: exactly one action record and one
# result record per statement, every chain intact and sealed. The same load runs directly
# against PostgreSQL first, for the added latency. Not part of the test command (minutes).
# Prints `key: value` lines at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
root=$(pwd)
SESSIONS=${SESSIONS:-500}
STATEMENTS=${STATEMENTS:-1000}

cargo build --release -q -p examples --bin hoop
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/hoop-load.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

PW=load-password
. "$root/benches/pg-server.sh"
. "$root/benches/hoop-config.sh"
start_bench_pg $((SESSIONS * 2 + 20))

h_port=$(free_port); a_port=$(free_port)
SECRET=load-secret-0123456789
cat > "$work/hoop.toml" <<EOT
data_dir = "$work/hoop-data"
[listeners]
postgres = "127.0.0.1:$h_port"
admin = "127.0.0.1:$a_port"
[limits]
max_sessions_per_identity = $((SESSIONS + 10))
$(pg_target)
$(bench_budgets)
[[static_identities]]
subject = "load"
secret = "$SECRET"
EOT
hoop() { "$root/target/release/hoop" --config "$work/hoop.toml" "$@"; }
"$root/target/release/hoop" --config "$work/hoop.toml" serve >"$work/hoop.log" 2>&1 &
hoop_pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$h_port") 2>/dev/null && break; sleep 0.1; done

# pgbench logs every transaction's latency (microseconds, 3rd field) per client.
run() { # dir port user password
  mkdir -p "$1"
  (cd "$1" && PGPASSWORD=$4 pgbench -n -S -M simple -c "$SESSIONS" -j 2 -t "$STATEMENTS" -h 127.0.0.1 -p "$2" -U "$3" -l --log-prefix=txn postgres 2>&1) > "$1/out"
  sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1/out"
}
p99() { cat "$1"/txn.* | awk '{print $3}' | sort -n | awk '{v[NR]=$1} END {print v[int(NR*0.99)]}'; }

echo "== direct: $SESSIONS sessions x $STATEMENTS statements"
direct_failed=$(run "$work/direct" "$pg_port" postgres "$PW")
echo "== through hoop"
start=$(date +%s)
hoop_failed=$(run "$work/hoop" "$h_port" load "$SECRET")
echo "took $(( $(date +%s) - start )) s; pgbench: $(grep -E '^(tps|latency average)' "$work/hoop/out" | tr '\n' ' ')"
rss_kib=$(sed -n 's/^VmHWM:\s*\([0-9]*\) kB/\1/p' "/proc/$hoop_pid/status")
d99=$(p99 "$work/direct"); h99=$(p99 "$work/hoop")

# Sessions close and seal their recordings when the clients go; give them a moment.
sleep 3
echo "== recordings"
python3 - "$work/hoop-data/recordings" "$SESSIONS" "$STATEMENTS" > "$work/count" <<'PY'
import json, os, sys
d, sessions, statements = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
actions = results = files = 0
for name in os.listdir(d):
    if not name.endswith(".jsonl"):
        continue
    files += 1
    for line in open(os.path.join(d, name)):
        body = json.loads(line)["body"]
        if body.get("type") == "action" and body.get("action", {}).get("kind") == "sql":
            actions += 1
        elif body.get("type") == "action_result":
            results += 1
expected = sessions * statements
print(files, actions, results, max(0, expected - actions) + max(0, expected - results))
PY
read -r files actions results missing < "$work/count"
bad=0
for f in "$work"/hoop-data/recordings/*.jsonl; do
  id=$(basename "$f" .jsonl)
  hoop verify "$id" >/dev/null 2>&1 || bad=$((bad + 1))
done

echo "load_sessions: $SESSIONS"
echo "load_statements: $((SESSIONS * STATEMENTS))"
echo "load_client_errors: $(( ${hoop_failed:-0} ))"
echo "load_direct_client_errors: $(( ${direct_failed:-0} ))"
echo "load_recordings: $files"
echo "load_action_records: $actions"
echo "load_result_records: $results"
echo "load_records_missing: $missing"
echo "load_recordings_not_verifying: $bad"
echo "load_p99_direct_ms: $(python3 -c "print(f'{$d99 / 1000:.2f}')")"
echo "load_p99_hoop_ms: $(python3 -c "print(f'{$h99 / 1000:.2f}')")"
echo "load_p99_added_ms: $(python3 -c "print(f'{($h99 - $d99) / 1000:.2f}')")"
echo "load_rss_peak_mib: $((rss_kib / 1024))"
