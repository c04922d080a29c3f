#!/usr/bin/env bash
# Postgres data path, side by side in one run on one Postgres, no TLS anywhere, SCRAM for every
# client: direct, through pgbouncer (session mode), and through hoop (SQL parsing, default
# rules, masking and recording on; the client is a static-secret agent logging in with SCRAM).
# A bare byte relay on the same runtime layout as hoop (benches/src/bin/pg_relay_floor.rs) runs
# beside them: the floor any tokio proxy pays here, so hoop's gap to pgbouncer splits into that
# floor and hoop's own work. Prints its figures as `key: value` lines at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
root=$(pwd)

if ! command -v pgbouncer >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
fi
cargo build --release -q -p examples --bin hoop-pg -p hoop-benches --bin pg_stream --bin pg_relay_floor
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}

work=$(mktemp -d /tmp/hoop-bench.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  [ -n "${floor_pid:-}" ] && kill "$floor_pid" 2>/dev/null || true
  # pgbouncer runs under runuser: stop it by its config path, not the wrapper's pid.
  pkill -f "pgbouncer $work/pgbouncer.ini" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

PW=bench-password
. "$root/benches/pg-server.sh"
. "$root/benches/hoop-config.sh"
start_bench_pg 100

# pgbouncer, session mode, SCRAM toward its clients and the server.
b_port=$(free_port)
cat > "$work/userlist.txt" <<EOT
"postgres" "$PW"
EOT
cat > "$work/pgbouncer.ini" <<EOT
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $b_port
auth_type = scram-sha-256
auth_file = $work/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
unix_socket_dir =
logfile = $work/pgbouncer.log
EOT
[ "$(id -u)" = 0 ] && chown postgres "$work"/userlist.txt "$work"/pgbouncer.ini
as_pg pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 &

# hoop, with its defaults: default agent rules, default masking, recording on.
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
"$root/target/release/hoop-pg" --config "$work/hoop.toml" >"$work/hoop.log" 2>&1 &
hoop_pid=$!
f_port=$(free_port)
"$root/target/release/pg_relay_floor" "127.0.0.1:$f_port" "127.0.0.1:$pg_port" >"$work/floor.log" 2>&1 &
floor_pid=$!
# HOOP_PG_BASELINE=path: another build of hoop-pg (say, the last release) on the same config,
# measured in the same alternating rounds, to tell a change's cost from the machine's drift.
if [ -n "${HOOP_PG_BASELINE:-}" ]; then
  base_port=$(free_port)
  # Builds from before budgets do not know their table: it goes.
  sed -e "s|^postgres = .*|postgres = \"127.0.0.1:$base_port\"|" -e "s|^data_dir = .*|data_dir = \"$work/base-data\"|" \
    -e '/^\[policy.budgets\]/,/^result_bytes/d' "$work/hoop.toml" > "$work/base.toml"
  "$HOOP_PG_BASELINE" --config "$work/base.toml" >"$work/base.log" 2>&1 &
  base_pid=$!
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$base_port") 2>/dev/null && break; sleep 0.1; done
fi
for _ in $(seq 1 100); do
  (echo > "/dev/tcp/127.0.0.1/$h_port") 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$b_port") 2>/dev/null \
    && (echo > "/dev/tcp/127.0.0.1/$f_port") 2>/dev/null && break
  sleep 0.1
done

run() { # name port user password args...
  local port=$2 user=$3 pw=$4; shift 4
  PGPASSWORD=$pw pgbench -n -h 127.0.0.1 -p "$port" -U "$user" "$@" postgres 2>&1
}
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }

# CPU seconds (user, system) a process has used: the c8 runs are CPU-bound on 2 cores, so the
# proxy's CPU per transaction decides its throughput.
cpu() { awk '{printf "%.2f %.2f\n", $14/100, $15/100}' "/proc/$1/stat"; }
b_pid=$(pgrep -f "^pgbouncer $work/pgbouncer.ini" | head -1)

echo "== pgbench -S -c 8 -j 2 -T 20, pgbouncer, the bare relay and hoop twice each, alternating"
d8=$(run direct "$pg_port" postgres "$PW" -S -c 8 -j 2 -T 20 | tps); echo "direct: $d8"
# Alternating rounds, so that drift on the shared machine during the run hits both proxies alike
# rather than whichever runs second; each proxy's CPU is summed over its own runs only.
b8=0; h8=0; f8=0; bu=0; bs=0; hu=0; hs=0; fu=0; fs=0
add() { python3 -c 'import sys; print(sum(float(x) for x in sys.argv[1:]))' "$@"; }
for round in 1 2; do
  read -r u0 s0 < <(cpu "$b_pid")
  t=$(run pgbouncer "$b_port" postgres "$PW" -S -c 8 -j 2 -T 20 | tps); echo "pgbouncer ($round): $t"
  read -r u1 s1 < <(cpu "$b_pid")
  b8=$(add "$b8" "$t"); bu=$(add "$bu" "$u1" "-$u0"); bs=$(add "$bs" "$s1" "-$s0")
  read -r u0 s0 < <(cpu "$floor_pid")
  t=$(run floor "$f_port" postgres "$PW" -S -c 8 -j 2 -T 20 | tps); echo "bare relay ($round): $t"
  read -r u1 s1 < <(cpu "$floor_pid")
  f8=$(add "$f8" "$t"); fu=$(add "$fu" "$u1" "-$u0"); fs=$(add "$fs" "$s1" "-$s0")
  read -r u0 s0 < <(cpu "$hoop_pid")
  t=$(run hoop "$h_port" bench "$SECRET" -S -c 8 -j 2 -T 20 | tps); echo "hoop ($round): $t"
  read -r u1 s1 < <(cpu "$hoop_pid")
  h8=$(add "$h8" "$t"); hu=$(add "$hu" "$u1" "-$u0"); hs=$(add "$hs" "$s1" "-$s0")
  if [ -n "${base_pid:-}" ]; then
    t=$(run baseline "$base_port" bench "$SECRET" -S -c 8 -j 2 -T 20 | tps); echo "baseline ($round): $t"
    base8=$(add "${base8:-0}" "$t")
  fi
done
b8=$(python3 -c "print($b8 / 2)"); h8=$(python3 -c "print($h8 / 2)"); f8=$(python3 -c "print($f8 / 2)")

# Latency per query from each run's TPS (microsecond resolution; pgbench prints the average in
# whole microseconds), three alternating rounds of 5 s so drift on the machine hits all three.
echo "== pgbench -S -c 1, 3 rounds x 5 s each, alternating"
d1=""; b1=""; h1=""; f1=""
us() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1 | awk '{printf "%.3f", 1e6 / $1}'; }
mean() { python3 -c 'import sys; v = [float(x) for x in sys.argv[1:]]; print(f"{sum(v) / len(v):.2f}")' $1; }
for _ in 1 2 3; do
  d1="$d1 $(run direct "$pg_port" postgres "$PW" -S -c 1 -T 5 | us)"
  b1="$b1 $(run pgbouncer "$b_port" postgres "$PW" -S -c 1 -T 5 | us)"
  h1="$h1 $(run hoop "$h_port" bench "$SECRET" -S -c 1 -T 5 | us)"
  f1="$f1 $(run floor "$f_port" postgres "$PW" -S -c 1 -T 5 | us)"
  [ -n "${base_pid:-}" ] && base1="${base1:-} $(run baseline "$base_port" bench "$SECRET" -S -c 1 -T 5 | us)"
done
d1=$(mean "$d1"); b1=$(mean "$b1"); h1=$(mean "$h1"); f1=$(mean "$f1")
echo "direct: $d1 us; pgbouncer: $b1 us; bare relay: $f1 us; hoop: $h1 us"
if [ -n "${base_pid:-}" ]; then
  base1=$(mean "$base1"); base8=$(python3 -c "print($base8 / 2)")
  echo "baseline: c8 $base8 tps, c1 $base1 us"
  echo "pg_select_c8_ratio_baseline: $(python3 -c "print(f'{$h8 / $base8:.2f}')")"
  echo "pg_latency_c1_added_us_vs_baseline: $(python3 -c "print(f'{$h1 - $base1:.1f}')")"
  kill "$base_pid" 2>/dev/null || true
fi

echo "== large result with masking (7,000,000 rows, about 1 GB of values)"
rows=7000000
read -r dbytes dsecs < <("$root/target/release/pg_stream" "host=127.0.0.1 port=$pg_port user=postgres password=$PW dbname=postgres sslmode=disable" $rows)
read -r hbytes hsecs < <("$root/target/release/pg_stream" "host=127.0.0.1 port=$h_port user=bench password=$SECRET dbname=postgres sslmode=disable" $rows)
echo "direct: $dbytes bytes in $dsecs s; hoop: $hbytes bytes in $hsecs s"
rss_kib=$(sed -n 's/^VmHWM:\s*\([0-9]*\) kB/\1/p' "/proc/$hoop_pid/status")

# What budgets add to one statement (benches/benches/core.rs): the gate's check and result end
# with budgets on against off, in place, by criterion; the proxies above are idle by now.
echo "== budget bookkeeping per statement (criterion)"
cargo bench -q -p hoop-benches --bench core -- --warm-up-time 1 --measurement-time 5 'gate/statement_check' >/dev/null 2>&1
budget_ns=$(python3 -c "print(max($(criterion_ns gate/statement_check) - $(criterion_ns gate/statement_check_no_budgets), 0))")

python3 - "$d8" "$b8" "$h8" "$d1" "$b1" "$h1" "$dsecs" "$hsecs" "$rss_kib" "$bu" "$bs" "$hu" "$hs" "$f8" "$f1" "$fu" "$fs" "$budget_ns" <<'PY'
import sys
d8, b8, h8, d1, b1, h1, ds, hs, rss, bu, bs, hu, hs_cpu, f8, f1, fu, fs, budget_ns = map(float, sys.argv[1:])
# Microseconds of CPU per transaction in the proxy process (user and kernel), from the c8 runs
# (two of 20 s each, at the mean TPS).
b_txn, h_txn, f_txn = b8 * 40, h8 * 40, f8 * 40
print(f"pg_c8_cpu_us_per_txn_pgbouncer: user {bu * 1e6 / b_txn:.1f} sys {bs * 1e6 / b_txn:.1f}")
print(f"pg_c8_cpu_us_per_txn_bare_relay: user {fu * 1e6 / f_txn:.1f} sys {fs * 1e6 / f_txn:.1f}")
print(f"pg_c8_cpu_us_per_txn_hoop: user {hu * 1e6 / h_txn:.1f} sys {hs_cpu * 1e6 / h_txn:.1f}")
print(f"pg_select_c8_ratio_pgbouncer: {h8 / b8:.2f}")
print(f"pg_select_c8_ratio_direct: {h8 / d8:.2f}")
# The floor: a relay that does nothing but copy, against pgbouncer, and hoop against it.
print(f"pg_select_c8_ratio_pgbouncer_bare_relay: {f8 / b8:.2f}")
print(f"pg_select_c8_ratio_bare_relay: {h8 / f8:.2f}")
added_h, added_b, added_f = h1 - d1, b1 - d1, f1 - d1
print(f"pg_latency_c1_added_ratio_pgbouncer: {added_h / added_b:.2f}" if added_b > 0 else "pg_latency_c1_added_ratio_pgbouncer: nan")
print(f"pg_latency_c1_added_us: {added_h:.1f}")
print(f"pg_latency_c1_added_ratio_pgbouncer_bare_relay: {added_f / added_b:.2f}" if added_b > 0 else "pg_latency_c1_added_ratio_pgbouncer_bare_relay: nan")
print(f"pg_latency_c1_added_us_bare_relay: {added_f:.1f}")
print(f"pg_large_result_ratio_direct: {ds / hs:.2f}")
print(f"pg_large_result_rss_mib: {rss / 1024:.1f}")
print(f"budget_check_ns: {budget_ns:.0f}")
PY
