#!/usr/bin/env bash
# SSH data path, side by side on one sshd: direct `ssh` vs through hoop (recording, masking and
# the default agent rules on), aes256-gcm on every hop (hoop prefers it toward hosts). Prints `key: value` lines last.
# HOOP_SSH_BIN=path runs another build of hoop-ssh (a baseline to compare a change against).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
root=$(pwd)

if [ ! -x /usr/sbin/sshd ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
cargo build --release -q -p examples --bin hoop-ssh

work=$(mktemp -d /tmp/hoop-sshbench.XXXXXX)
. "$root/benches/sshd-server.sh"
bench_ssh_user
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  [ -n "${sshd_pid:-}" ] && kill "$sshd_pid" 2>/dev/null || true
  ssh -S "$work/ctl-direct" -O exit x 2>/dev/null || true
  ssh -S "$work/ctl-hoop" -O exit x 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_bench_sshd "MaxSessions 1000"

h_port=$(free_port)
cat > "$work/hoop.toml" <<EOT
data_dir = "$work/hoop-data"
[listeners]
ssh = "127.0.0.1:$h_port"
[targets.bench]
protocol = "ssh"
address = "127.0.0.1:$s_port"
user = "$user"
key_file = "$work/gateway"
host_keys = ["$(cut -d' ' -f1,2 "$work/host.pub")"]
[[ssh_keys]]
subject = "agent-1"
kind = "agent"
public_key = "$(cut -d' ' -f1,2 "$work/agent.pub")"
EOT
"${HOOP_SSH_BIN:-$root/target/release/hoop-ssh}" --config "$work/hoop.toml" >"$work/hoop.log" 2>&1 &
hoop_pid=$!
for _ in $(seq 1 100); do
  (echo > "/dev/tcp/127.0.0.1/$h_port") 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$s_port") 2>/dev/null && break
  sleep 0.1
done

opts=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes -c aes256-gcm@openssh.com)
direct=(ssh "${opts[@]}" -i "$work/gateway" -p "$s_port" "$user@127.0.0.1")
hoop=(ssh "${opts[@]}" -i "$work/agent" -p "$h_port" "bench@127.0.0.1")
secs() { python3 -c 'import sys,time,subprocess; t=time.time(); subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); print(f"{time.time()-t:.3f}")' "$@"; }

echo "== bulk: head -c 1G /dev/zero"

d_bulk=$(secs "${direct[@]}" 'head -c 1G /dev/zero'); echo "direct: $d_bulk s"
h_bulk=$(secs "${hoop[@]}" 'head -c 1G /dev/zero'); echo "hoop: $h_bulk s"
echo "== bulk, incompressible: head -c 256M /dev/urandom (informational)"
d_rand=$(secs "${direct[@]}" 'head -c 256M /dev/urandom'); echo "direct: $d_rand s"
h_rand=$(secs "${hoop[@]}" 'head -c 256M /dev/urandom'); echo "hoop: $h_rand s"

echo "== latency: 200 sequential 'true' on an open connection"
ctl() { # name argv...
  local name=$1; shift
  "$@" -M -S "$work/ctl-$name" -f -N
}
ctl direct ssh "${opts[@]}" -i "$work/gateway" -p "$s_port" "$user@127.0.0.1"
ctl hoop ssh "${opts[@]}" -i "$work/agent" -p "$h_port" "bench@127.0.0.1"
loop() { # name; prints the mean ms of successful commands, then the number that failed
  python3 - "$work/ctl-$1" <<'PY'
import subprocess, sys, time
sock, ok, failed, spent = sys.argv[1], 0, 0, 0.0
while ok < 200 and failed < 200:
    t = time.time()
    r = subprocess.run(["ssh", "-F", "/dev/null", "-S", sock, "x", "true"], capture_output=True)
    if r.returncode == 0:
        ok += 1
        spent += time.time() - t
    else:
        failed += 1
        if failed == 1:
            print(f"first failure: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()}", file=sys.stderr)
print(f"{spent / max(ok, 1) * 1000:.3f} {failed}")
PY
}
read -r d_ms d_fail < <(loop direct); echo "direct: $d_ms ms per command ($d_fail failed)"
read -r h_ms h_fail < <(loop hoop); echo "hoop: $h_ms ms per command ($h_fail failed)"
rec=$(du -sm "$work/hoop-data/recordings" | cut -f1)
echo "recordings: ${rec} MiB"

python3 - "$d_bulk" "$h_bulk" "$d_ms" "$h_ms" "$h_fail" "$d_rand" "$h_rand" <<'PY'
import sys
db, hb, dm, hm, hf, dr, hr = map(float, sys.argv[1:])
print(f"ssh_exec_failures: {int(hf)}")
print(f"ssh_bulk_random_ratio_direct: {dr / hr:.2f}")
print(f"ssh_bulk_ratio_direct: {db / hb:.2f}")
print(f"ssh_exec_added_ms: {hm - dm:.2f}")
PY
