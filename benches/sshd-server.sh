# Sourced by the SSH benches: a throwaway OpenSSH sshd on loopback, with the keys the benches
# use (host, the gateway's upstream key, an agent's key) in "$work". Needs $work and free_port (benches/common.sh);
# `bench_ssh_user` sets $user (a throwaway account when run as root), `start_bench_sshd
# [extra sshd_config lines]` sets $s_port and $sshd_pid.
bench_ssh_user() {
  user=$(id -un)
  if [ "$(id -u)" = 0 ]; then
    user=hooptest
    id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
    usermod -p '*' "$user"
    mkdir -p /run/sshd
  fi
}
start_bench_sshd() {
  for k in host gateway agent; do ssh-keygen -q -t ed25519 -N "" -f "$work/$k"; done
  chmod 755 "$work"; mkdir -m 755 "$work/auth"; cp "$work/gateway.pub" "$work/auth/$user"
  [ "$(id -u)" = 0 ] && chown "$user" "$work/auth/$user"
  s_port=$(free_port)
  cat > "$work/sshd_config" <<EOT
Port $s_port
ListenAddress 127.0.0.1
HostKey $work/host
PidFile $work/sshd.pid
AuthorizedKeysFile $work/auth/%u
UsePAM no
StrictModes no
PasswordAuthentication no
Subsystem sftp /usr/lib/openssh/sftp-server
$1
EOT
  /usr/sbin/sshd -D -e -f "$work/sshd_config" 2>"$work/sshd.log" &
  sshd_pid=$!
}
