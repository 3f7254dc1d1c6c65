#!/usr/bin/env bash
# The sanitizer runs (docs/TESTING.md), each in its own clang build dir, CUDA off:
#   unit     build-asan/: ASan + UBSan over the `unit` ctest label (what CI runs);
#            the libraries also carry libFuzzer coverage, so the fuzz harnesses
#            come from this same build.
#   address  the same build over the whole ctest suite (every label CI runs).
#   fuzz     every libFuzzer harness for FUZZ_SECONDS (default 5) with a fixed seed
#            over its seed corpus (scripts/fuzz.sh on build-asan/).
#   thread   build-tsan/: ThreadSanitizer over the multi-threaded code: the
#            coordinator, the REST server and model manager, the direct-I/O
#            checkpoint writer and restore, and the job monitor (a training run).
# Exits non-zero when any report, failing test or fuzz finding occurred.
#
#   scripts/sanitize.sh [unit|address|fuzz|thread]...   (default: address fuzz thread)
#   SANITIZE_CTEST_ARGS="-R Coordinator" scripts/sanitize.sh address   (part of the suite)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages "${SHARDTRAIN_PACKAGES[@]}" "${SHARDTRAIN_SANITIZER_PACKAGES[@]}"

jobs="${SANITIZE_BUILD_JOBS:-$(nproc)}"
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer" TSAN_SYMBOLIZER_PATH="$symbolizer"
# Reports stop the process (exit 1 with the report on stderr), so any finding fails its test.
# allocator_may_return_null: malloc of an absurd size returns NULL as glibc's does
# (libhdf5, not instrumented, asks for sizes read from damaged files and handles
# the NULL); operator new of such a size still stops with a report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"

build_address() {
  configure_sanitized build-asan address -DSHARDTRAIN_FUZZ=ON || return 1
  echo "== building build-asan/"
  cmake --build build-asan -j "$jobs"
}

run_unit() {
  build_address || return 1
  echo "== running the unit tests under ASan + UBSan"
  # shellcheck disable=SC2086  # word splitting of the extra ctest arguments is intended
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L unit ${SANITIZE_CTEST_ARGS:-}
}

run_address() {
  local status=0
  build_address || return 1
  run_unit || status=1
  # The other labels start Open MPI; the slow unwinder lets scripts/lsan.supp see its frames.
  echo "== running the mpi, integration and browser tests under ASan + UBSan"
  # shellcheck disable=SC2086
  ASAN_OPTIONS="$ASAN_OPTIONS:fast_unwind_on_malloc=0" \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -LE unit ${SANITIZE_CTEST_ARGS:-} ||
    status=1
  return "$status"
}

run_fuzz() {
  echo "== fuzz smoke run (${FUZZ_SECONDS:-5} s per harness, build-asan/)"
  FUZZ_BUILD_DIR=build-asan scripts/fuzz.sh "${FUZZ_SECONDS:-5}"
}

# Test binaries whose code runs threads: coordinator (Asio thread, registry,
# committer), serving (REST server's thread pool, model manager poller), the
# checkpoint writer's background direct-I/O thread and the restore's reads.
tsan_tests=(coordinator_test checkpoint_committer_test worker_registry_test
            rest_server_test loaded_model_test classify_regress_test
            direct_io_test file_system_test tensor_bundle_test
            checkpoint_contents_test resume_test trainer_test)

run_thread() {
  configure_sanitized build-tsan thread || return 1
  echo "== building build-tsan/ (the multi-threaded tests and the shardtrain binary)"
  cmake --build build-tsan -j "$jobs" --target "${tsan_tests[@]}" shardtrain || return 1
  # libomp reports its own synchronization to TSan through the Archer tool.
  local tsan_env=(TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp}"
                  OMP_TOOL_LIBRARIES=/usr/lib/llvm-14/lib/libarcher.so)
  local failed=()
  for test in "${tsan_tests[@]}"; do
    echo "== TSan: $test"
    env "${tsan_env[@]}" "build-tsan/tests/$test" --gtest_brief=1 || failed+=("$test")
  done
  # The job monitor's heartbeat thread runs beside the coordinator in a real training run.
  echo "== TSan: tests/cli/cli_test.sh (job monitor, coordinator, checkpoint writes)"
  local rc=0
  env "${tsan_env[@]}" tests/cli/cli_test.sh build-tsan/bin "$PWD" || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || failed+=(cli_test.sh)
  if [ ${#failed[@]} -gt 0 ]; then
    echo "== TSan failures: ${failed[*]}"
    return 1
  fi
}

steps=("$@")
[ $# -eq 0 ] && steps=(address fuzz thread)
# Each step runs to its end; a failing one makes the exit status 1.
status=0
for step in "${steps[@]}"; do
  case "$step" in
    unit) run_unit || status=1 ;;
    address) run_address || status=1 ;;
    fuzz) run_fuzz || status=1 ;;
    thread) run_thread || status=1 ;;
    *) echo "unknown step '$step' (unit, address, fuzz or thread)" >&2; exit 2 ;;
  esac
done
exit "$status"
