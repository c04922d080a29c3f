#!/usr/bin/env bash
# Core benchmarks: a CEL decision under the default agent rules (and with a user rule the
# interpreter has to run), masking throughput on mixed text (one core), and one statement's
# whole check (analysis, policy, masking, the action recorded to disk), and SQL analysis by
# PostgreSQL's grammar with and without the shape cache. Prints `cel_decision_us`,
# `cel_interpreted_us`, `statement_check_us`, `sql_analyze_cached_us`, `sql_analyze_uncached_us`
# `exec_read_true_us`, `exec_read_pipeline_us` (an exec line read by the shell grammar),
# `mask_mb_per_s`, `mask_base64_mb_per_s` (one line of base64), and `budget_check_ns` (what budgets add to a statement's check and result
# in place: the gate with budgets on against off, bookkeeping and budget rules together) last.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p hoop-benches --bench core -- --warm-up-time 1 --measurement-time 5 "$@"
. benches/common.sh
est() { criterion_ns "$1"; }
cel_ns=$(est cel_decision)
celi_ns=$(est cel_interpreted)
check_ns=$(est gate/statement_check)
mask_ns=$(est mask/mixed_text)
b64_ns=$(est mask/base64_text)
sqlc_ns=$(est sql_analyze_cached)
sqlu_ns=$(est sql_analyze_uncached)
exec_ns=$(est exec_read_true)
execp_ns=$(est exec_read_pipeline)
book_ns=$(est budget_bookkeeping)
nob_ns=$(est gate/statement_check_no_budgets)
celb_ns=$(est cel_decision_budgets)
bytes=1048576
python3 - "$cel_ns" "$check_ns" "$mask_ns" "$bytes" "$celi_ns" "$sqlc_ns" "$sqlu_ns" "$exec_ns" "$execp_ns" "$book_ns" "$celb_ns" "$nob_ns" "$b64_ns" <<'PY'
import sys
book_ns, celb_ns, nob_ns = float(sys.argv[10]), float(sys.argv[11]), float(sys.argv[12])
cel_ns, check_ns, mask_ns, n, celi_ns = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
sqlc_ns, sqlu_ns = float(sys.argv[6]), float(sys.argv[7])
exec_ns, execp_ns = float(sys.argv[8]), float(sys.argv[9])
print(f"cel_decision_us: {cel_ns / 1000:.2f}")
print(f"cel_interpreted_us: {celi_ns / 1000:.2f}")
print(f"statement_check_us: {check_ns / 1000:.2f}")
print(f"sql_analyze_cached_us: {sqlc_ns / 1000:.2f}")
print(f"sql_analyze_uncached_us: {sqlu_ns / 1000:.2f}")
print(f"exec_read_true_us: {exec_ns / 1000:.2f}")
print(f"exec_read_pipeline_us: {execp_ns / 1000:.2f}")
print(f"mask_mb_per_s: {n / (mask_ns / 1e9) / 1e6:.0f}")
print(f"mask_base64_mb_per_s: {n / (float(sys.argv[13]) / 1e9) / 1e6:.0f}")
print(f"budget_bookkeeping_ns: {book_ns:.0f}")
print(f"budget_rules_ns: {max(celb_ns - cel_ns, 0):.0f}")
print(f"budget_check_ns: {max(check_ns - nob_ns, 0):.0f}")
PY
