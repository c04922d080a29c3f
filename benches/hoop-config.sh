# Sourced by the benches that run hoop: pieces of its config they share.

# The Postgres target of benches/pg-server.sh's server, through the least-privileged role.
# Needs $pg_port and $PW.
pg_target() {
  cat <<EOT
[targets.postgres]
protocol = "postgres"
address = "127.0.0.1:$pg_port"
user = "hoop_gateway"
password = "$PW"
database = "postgres"
EOT
}

# Budgets on (their bookkeeping is part of what is measured), set so that they never hold a
# benchmark's millions of reads (every result still passes its checkpoints).
bench_budgets() {
  cat <<EOT
[policy.budgets]
target_rows_1h = 1000000000
masked_values_1h = 1000000000
target_bytes_1h = 100000000000
result_rows = 1000000000
result_bytes = 100000000000
EOT
}
