#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) in the ASan + UBSan build, build-asan/
# (FUZZ_BUILD_DIR=DIR names another; scripts/sanitize.sh builds and tests the
# same dir), and runs each for SECONDS (default 5, with a fixed -seed=1 so a
# run can be repeated; pass e.g. 600 to search for minutes). Prints per harness the
# executions run, the coverage reached (cov/ft from libFuzzer's final line) and
# the findings (crash-/leak-/timeout-/oom- files in build-asan/findings/NAME/,
# each a reproducer: build-asan/bin/fuzz_NAME FILE). Exits 1 when any harness
# found something or did not build. docs/TESTING.md, "Fuzzing", has the details.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     (default: every harness)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages "${SHARDTRAIN_PACKAGES[@]}" "${SHARDTRAIN_FUZZ_PACKAGES[@]}"

seconds="${1:-5}"
shift || true
# Every harness fuzz/CMakeLists.txt declares (shardtrain_fuzz_target(NAME ...)), in its order.
mapfile -t all_harnesses < <(sed -n 's/^shardtrain_fuzz_target(\([a-z0-9_]*\) .*/\1/p' fuzz/CMakeLists.txt)
harnesses=("${@:-${all_harnesses[@]}}")
out="${FUZZ_BUILD_DIR:-build-asan}"
jobs="${FUZZ_BUILD_JOBS:-$(nproc)}"

configure_sanitized "$out" address -DSHARDTRAIN_FUZZ=ON
echo "== building the fuzz harnesses ($out/)"
mkdir -p "$out/logs"
# -k: a harness whose code does not build is reported below; the others still run.
rm -f "${harnesses[@]/#/$out/bin/fuzz_}"
cmake --build "$out" -j "$jobs" --target "${harnesses[@]/#/fuzz_}" -- -k >"$out/logs/build.log" 2>&1 ||
  echo "== some harnesses did not build: $out/logs/build.log"

echo "== gathering seeds ($out/seeds/)"
rm -rf "$out/seeds"
python3 fuzz/make_seeds.py "$out/seeds" "${SHARDTRAIN_SHARED_DIR:-../shared}/testdata"

# The saved_model harness restores its graph's variables from a real TF1 model's, when present.
variables="${SHARDTRAIN_SHARED_DIR:-../shared}/testdata/tf/serving_saved_model_half_plus_two_cpu/00000123/variables"
if [ -z "${SHARDTRAIN_FUZZ_VARIABLES:-}" ] && [ -d "$variables" ]; then
  export SHARDTRAIN_FUZZ_VARIABLES="$(cd "$variables" && pwd)"
fi
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
found=0
printf '%-15s %12s %8s %8s  %s\n' harness executions cov ft findings
for name in "${harnesses[@]}"; do
  mkdir -p "$out/seeds/$name" "$out/corpus/$name" "$out/findings/$name"
  if [ ! -x "$out/bin/fuzz_$name" ]; then
    found=1
    printf '%-15s %12s %8s %8s  %s\n' "$name" - - - "did not build, see $out/logs/build.log"
    continue
  fi
  scratch="$(mktemp -d "${TMPDIR:-/tmp}/shardtrain-fuzz-$name.XXXXXX")"
  before="$(ls "$out/findings/$name" | wc -l)"
  log="$out/logs/$name.log"
  # libhdf5 (not instrumented) asks malloc for sizes from the file and handles
  # the NULL it gets for absurd ones, and leaks 56-byte blocks on some damaged
  # files inside itself: for `keras` only its RSS is limited and leaks are off.
  malloc_limit=1024 asan_options="$ASAN_OPTIONS"
  if [ "$name" = keras ]; then
    malloc_limit=2000000000 asan_options="$ASAN_OPTIONS:allocator_may_return_null=1:detect_leaks=0"
  fi
  TMPDIR="$scratch" ASAN_OPTIONS="$asan_options" "$out/bin/fuzz_$name" -seed=1 \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit" \
    -print_final_stats=1 \
    -artifact_prefix="$out/findings/$name/" "$out/corpus/$name" "$out/seeds/$name" \
    >"$log" 2>&1 && rc=0 || rc=$?
  rm -rf "$scratch"
  executions="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  last="$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  new="$(( $(ls "$out/findings/$name" | wc -l) - before ))"
  findings="none"
  if [ "$rc" -ne 0 ] || [ "$new" -gt 0 ]; then
    found=1
    findings="exit $rc, $new new file(s) in $out/findings/$name, log $log"
  fi
  printf '%-15s %12s %8s %8s  %s\n' "$name" "${executions:-?}" "${cov:-?}" "${ft:-?}" "$findings"
done
exit "$found"
