#!/usr/bin/env bash
# Load without loss, SSH and Kubernetes, sized to a 2-core machine, through `hoop serve` with
# its defaults (default agent rules, masking, recording on):
# - SSH: SSH_CLIENTS (default 50) clients at once, each one OpenSSH ControlMaster connection
#   running SSH_COMMANDS (default 20) commands in turn, each command's output checked;
# - Kubernetes: K8S_CONNECTIONS (default 50) keep-alive connections GETting one pod for
#   K8S_SECONDS (default 10) seconds, every response a 200.
# Then the recordings are counted (exactly one action record and one result record per command
# and per request) and every chain verified. Not part of the test command. Prints `key: value`
# lines at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
root=$(pwd)
SSH_CLIENTS=${SSH_CLIENTS:-50}
SSH_COMMANDS=${SSH_COMMANDS:-20}
K8S_CONNECTIONS=${K8S_CONNECTIONS:-50}
K8S_SECONDS=${K8S_SECONDS:-10}

if [ ! -x /usr/sbin/sshd ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi
cargo build --release -q -p examples --bin hoop -p hoop-benches --bin k8s_load
# Built on its own: together, its features (tokio's process driver) would be the gateway's too.
cargo build --release -q -p hoop-harness --bin kube-test-apiserver

work=$(mktemp -d /tmp/hoop-load2.XXXXXX)
. "$root/benches/sshd-server.sh"
. "$root/benches/hoop-config.sh"
bench_ssh_user
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  [ -n "${sshd_pid:-}" ] && kill "$sshd_pid" 2>/dev/null || true
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  for s in "$work"/ctl-*; do [ -S "$s" ] && ssh -S "$s" -O exit x 2>/dev/null; done || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

start_bench_sshd "MaxSessions 100
MaxStartups 200"

a_port=$(free_port)
target/release/kube-test-apiserver "$a_port" 20 load-token >"$work/api.out" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do grep -q '^kubeconfig:' "$work/api.out" 2>/dev/null && break; sleep 0.1; done
ca=$(sed -n 's/^ca_file: //p' "$work/api.out")

h_ssh=$(free_port); h_k8s=$(free_port); h_admin=$(free_port)
cat > "$work/hoop.toml" <<EOT
data_dir = "$work/hoop-data"
[listeners]
ssh = "127.0.0.1:$h_ssh"
kubernetes = "127.0.0.1:$h_k8s"
admin = "127.0.0.1:$h_admin"
[limits]
max_sessions_per_identity = $((SSH_CLIENTS * 2 + K8S_CONNECTIONS + 10))
$(bench_budgets)
[targets.web]
protocol = "ssh"
address = "127.0.0.1:$s_port"
user = "$user"
key_file = "$work/gateway"
host_keys = ["$(cut -d' ' -f1,2 "$work/host.pub")"]
[targets.cluster]
protocol = "kubernetes"
address = "https://127.0.0.1:$a_port"
ca_file = "$ca"
password = "load-token"
[[ssh_keys]]
subject = "load-agent"
kind = "agent"
public_key = "$(cut -d' ' -f1,2 "$work/agent.pub")"
EOT
hoop() { "$root/target/release/hoop" --config "$work/hoop.toml" "$@"; }
"$root/target/release/hoop" --config "$work/hoop.toml" serve >"$work/hoop.log" 2>&1 &
hoop_pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$h_k8s") 2>/dev/null && (echo > "/dev/tcp/127.0.0.1/$h_ssh") 2>/dev/null && break; sleep 0.1; done

echo "== SSH: $SSH_CLIENTS clients x $SSH_COMMANDS commands"
opts=(-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/agent" -p "$h_ssh")
start=$(date +%s.%N)
python3 - "$work" "$SSH_CLIENTS" "$SSH_COMMANDS" "${opts[@]}" > "$work/ssh.out" <<'PY'
import subprocess, sys, threading
work, clients, commands, opts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
errors = 0
lock = threading.Lock()
def client(c):
    global errors
    sock = f"{work}/ctl-{c}"
    bad = 0
    m = subprocess.run(["ssh", *opts, "-M", "-S", sock, "-f", "-N", "web@127.0.0.1"], capture_output=True)
    if m.returncode != 0:
        bad = commands
    else:
        for i in range(commands):
            r = subprocess.run(["ssh", "-F", "/dev/null", "-S", sock, "x", f"echo c{c}-{i}"], capture_output=True)
            if r.returncode != 0 or r.stdout != f"c{c}-{i}\n".encode():
                bad += 1
                if bad == 1:
                    print(f"client {c}: exit {r.returncode}: {r.stderr.decode(errors='replace').strip()}", file=sys.stderr)
        subprocess.run(["ssh", "-F", "/dev/null", "-S", sock, "-O", "exit", "x"], capture_output=True)
    with lock:
        errors += bad
threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
PY
ssh_secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
ssh_errors=$(cat "$work/ssh.out")
echo "took $ssh_secs s, $ssh_errors errors"

echo "== Kubernetes: $K8S_CONNECTIONS connections x $K8S_SECONDS s of GET one pod"
token=$(hoop token issue --subject load-k8s --kind agent --ttl 3600)
k8s_errors=0
read -r k8s_requests k8s_secs < <(target/release/k8s_load "https://127.0.0.1:$h_k8s/k8s/cluster/api/v1/namespaces/default/pods/pod-1" "$token" "$work/hoop-data/tls/cert.pem" "$K8S_CONNECTIONS" "$K8S_SECONDS") || k8s_errors=1
echo "$k8s_requests requests in $k8s_secs s"
rss_kib=$(sed -n 's/^VmHWM:\s*\([0-9]*\) kB/\1/p' "/proc/$hoop_pid/status")

# Sessions close and seal their recordings when the clients go; give them a moment.
sleep 3
kill "$hoop_pid"; wait "$hoop_pid" 2>/dev/null || true; hoop_pid=
echo "== recordings"
python3 - "$work/hoop-data/recordings" > "$work/count" <<'PY'
import json, os, sys
d = sys.argv[1]
counts = {"exec": [0, 0], "k8s": [0, 0]}
files = 0
for name in os.listdir(d):
    if not name.endswith(".jsonl"):
        continue
    files += 1
    kinds = {}
    for line in open(os.path.join(d, name)):
        body = json.loads(line)["body"]
        if body.get("type") == "action" and body.get("action", {}).get("kind") in counts:
            kinds[body["action_id"]] = body["action"]["kind"]
            counts[body["action"]["kind"]][0] += 1
        elif body.get("type") == "action_result" and body.get("action_id") in kinds:
            counts[kinds[body["action_id"]]][1] += 1
print(files, *counts["exec"], *counts["k8s"])
PY
read -r files ssh_actions ssh_results k8s_actions k8s_results < "$work/count"
bad=0
for f in "$work"/hoop-data/recordings/*.jsonl; do
  hoop verify "$(basename "$f" .jsonl)" >/dev/null 2>&1 || bad=$((bad + 1))
done
ssh_expected=$((SSH_CLIENTS * SSH_COMMANDS))
k8s_requests=${k8s_requests:-0}
missing=$(( (ssh_expected > ssh_actions ? ssh_expected - ssh_actions : 0) + (ssh_expected > ssh_results ? ssh_expected - ssh_results : 0) \
  + (k8s_requests > k8s_actions ? k8s_requests - k8s_actions : 0) + (k8s_requests > k8s_results ? k8s_requests - k8s_results : 0) ))

echo "load_ssh_commands: $ssh_expected"
echo "load_ssh_client_errors: $ssh_errors"
echo "load_ssh_action_records: $ssh_actions"
echo "load_ssh_result_records: $ssh_results"
echo "load_ssh_commands_per_s: $(python3 -c "print(f'{$ssh_expected / $ssh_secs:.0f}')")"
echo "load_k8s_requests: $k8s_requests"
echo "load_k8s_client_errors: $k8s_errors"
echo "load_k8s_action_records: $k8s_actions"
echo "load_k8s_result_records: $k8s_results"
echo "load_k8s_requests_per_s: $(python3 -c "print(f'{$k8s_requests / $k8s_secs:.0f}')")"
echo "load_records_missing: $missing"
echo "load_recordings: $files"
echo "load_recordings_not_verifying: $bad"
echo "load_rss_peak_mib: $((rss_kib / 1024))"
