#!/usr/bin/env bash
# Kubernetes data path, side by side on one test API server (hoop-harness's, 200 pods): kubectl
# direct vs through hoop (policy, masking and recording on), and a GET load of one pod, also
# through nginx as a bare TLS reverse proxy (no checks, an access log line per request): the
# floor any TLS-terminating proxy pays on this machine. Prints `key: value` lines last.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p examples --bin hoop-k8s -p hoop-benches --bin k8s_load
# Built on its own: together, its features (tokio's process driver) would be the gateway's too.
cargo build --release -q -p hoop-harness --bin kube-test-apiserver

work=$(mktemp -d /tmp/hoop-k8sbench.XXXXXX)
cleanup() {
  [ -n "${hoop_pid:-}" ] && kill "$hoop_pid" 2>/dev/null || true
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

a_port=$(free_port)
target/release/kube-test-apiserver "$a_port" 200 bench-token >"$work/api.out" 2>&1 &
api_pid=$!
h_port=$(free_port)
for _ in $(seq 1 100); do grep -q '^kubeconfig:' "$work/api.out" 2>/dev/null && break; sleep 0.1; done
ca=$(sed -n 's/^ca_file: //p' "$work/api.out")
direct_kc=$(sed -n 's/^kubeconfig: //p' "$work/api.out")
target/release/hoop-k8s --data-dir "$work/hoop" --listen "127.0.0.1:$h_port" \
  --upstream "https://127.0.0.1:$a_port" --ca-file "$ca" --upstream-token bench-token >"$work/hoop.log" 2>&1 &
hoop_pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$h_port") 2>/dev/null && break; sleep 0.1; done
target/release/hoop-k8s --data-dir "$work/hoop" --listen "127.0.0.1:$h_port" kubeconfig --subject bench-agent > "$work/hoop.kubeconfig"
token=$(target/release/hoop-k8s --data-dir "$work/hoop" token --subject bench-agent --ttl 3600)
mkdir -p "$work/home"

echo "== kubectl get pods (200 pods), 10 runs each, alternating"
python3 - "$direct_kc" "$work/hoop.kubeconfig" "$work/home" > "$work/get.out" <<'PY'
import os, subprocess, sys, time
direct, hoop, home = sys.argv[1:]
env = dict(os.environ, HOME=home)
spent = {"direct": 0.0, "hoop": 0.0}
for kc in (direct, hoop):  # warm discovery caches
    subprocess.run(["kubectl", "--kubeconfig", kc, "get", "pods"], check=True, capture_output=True, env=env)
for _ in range(10):
    for name, kc in (("direct", direct), ("hoop", hoop)):
        t = time.time()
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "pods"], check=True, capture_output=True, env=env)
        spent[name] += time.time() - t
        assert r.stdout.count(b"\n") == 201, r.stdout[:200]
print(f"{spent['direct']/10:.4f} {spent['hoop']/10:.4f}")
PY
read -r d_get h_get < "$work/get.out"
echo "direct: ${d_get} s per get; hoop: ${h_get} s per get"

echo "== GET load: 8 connections x 5 s of GET /api/v1/namespaces/default/pods/pod-1"
read -r d_n d_s < <(target/release/k8s_load "https://127.0.0.1:$a_port/api/v1/namespaces/default/pods/pod-1" bench-token "$ca" 8 5)
read -r h_n h_s < <(target/release/k8s_load "https://127.0.0.1:$h_port/k8s/cluster/api/v1/namespaces/default/pods/pod-1" "$token" "$work/hoop/tls/cert.pem" 8 5)
echo "direct: $d_n requests in $d_s s; hoop: $h_n requests in $h_s s"
# nginx: one worker per core (as hoop's connection threads), TLS with hoop's certificate on both ends of the
# load, keep-alive TLS to the API server with its CA verified, the gateway's token added.
n_port=$(free_port)
cat > "$work/nginx.conf" <<EOT
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log $work/nginx-access.log;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  upstream api { server 127.0.0.1:$a_port; keepalive 32; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$n_port ssl;
    keepalive_requests 100000000;
    ssl_certificate $work/hoop/tls/cert.pem;
    ssl_certificate_key $work/hoop/tls/key.pem;
    location / {
      proxy_pass https://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-token";
      proxy_max_temp_file_size 0;
      proxy_ssl_trusted_certificate $ca;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
}
EOT
"$NGINX" -p "$work" -e "$work/nginx-error.log" -c "$work/nginx.conf"
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$n_port") 2>/dev/null && break; sleep 0.1; done
read -r n_n n_s < <(target/release/k8s_load "https://127.0.0.1:$n_port/api/v1/namespaces/default/pods/pod-1" none "$work/hoop/tls/cert.pem" 8 5)
echo "nginx: $n_n requests in $n_s s"
echo "== GET load (informational): 8 connections x 5 s of GET /api/v1/namespaces/default/pods (200 pods)"
read -r dl_n dl_s < <(target/release/k8s_load "https://127.0.0.1:$a_port/api/v1/namespaces/default/pods" bench-token "$ca" 8 5)
read -r hl_n hl_s < <(target/release/k8s_load "https://127.0.0.1:$h_port/k8s/cluster/api/v1/namespaces/default/pods" "$token" "$work/hoop/tls/cert.pem" 8 5)
echo "direct: $dl_n requests in $dl_s s; hoop: $hl_n requests in $hl_s s"
echo "recordings: $(du -sm "$work/hoop/recordings" | cut -f1) MiB"

python3 - "$d_get" "$h_get" "$d_n" "$d_s" "$h_n" "$h_s" "$dl_n" "$dl_s" "$hl_n" "$hl_s" "$n_n" "$n_s" <<'PY'
import sys
dg, hg, dn, ds, hn, hs, dln, dls, hln, hls, nn, ns = map(float, sys.argv[1:])
print(f"k8s_rps_list_ratio_direct: {(hln / hls) / (dln / dls):.2f}")
print(f"k8s_get_ratio_direct: {dg / hg:.2f}")
print(f"k8s_rps_direct: {dn / ds:.0f}")
print(f"k8s_rps_hoop: {hn / hs:.0f}")
print(f"k8s_rps_nginx: {nn / ns:.0f}")
print(f"k8s_rps_nginx_ratio_direct: {(nn / ns) / (dn / ds):.2f}")
print(f"k8s_rps_ratio_nginx: {(hn / hs) / (nn / ns):.2f}")
print(f"k8s_rps_ratio_direct: {(hn / hs) / (dn / ds):.2f}")
PY
