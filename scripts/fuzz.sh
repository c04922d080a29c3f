#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 600), one after the other, with
# libFuzzer through cargo-fuzz. Not part of the test command.
#
# This machine has only the stable toolchain: cargo-fuzz needs nightly's -Zsanitizer, which a
# stable rustc accepts with RUSTC_BOOTSTRAP=1 (the same compiler, its unstable flags unlocked).
# libFuzzer is what cargo-fuzz links, coverage-guided with AddressSanitizer; it was chosen over
# cargo-afl (needs its own LLVM plugin build) and bolero (a layer over the same engines).
#
# Corpora live in fuzz/corpus/<target> (committed seeds; new inputs land there too) and crashes
# in fuzz/artifacts/<target>; every crash found becomes a regression test in the crate it hit.
#
#   bash scripts/fuzz.sh                 # every target, 10 minutes each
#   SECONDS_EACH=60 bash scripts/fuzz.sh pg_frontend sql
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
each=${SECONDS_EACH:-600}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
failed=()
for t in "${targets[@]}"; do
  # New inputs go to fuzz/work (not committed); fuzz/corpus holds the committed seeds.
  mkdir -p "fuzz/corpus/$t" "fuzz/work/$t"
  echo "== $t for ${each}s"
  if cargo fuzz run -O "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- -max_total_time="$each" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 | tail -15; then
    echo "fuzz_${t}: ok"
  else
    echo "fuzz_${t}: CRASH (see fuzz/artifacts/$t)"
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "crashed: ${failed[*]}"; exit 1; }
