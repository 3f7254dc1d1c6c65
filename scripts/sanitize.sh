#!/usr/bin/env bash
# The sanitizer runs (docs/TESTING.md), each in its own clang build dir, CUDA off:
#   unit     build-asan/: ASan + UBSan over the `unit` ctest label (what CI runs);
#            the libraries also carry libFuzzer coverage, so the fuzz harnesses
#            come from this same build.
#   address  the same build over the whole ctest suite (every label CI runs).
#   fuzz     every libFuzzer harness for FUZZ_SECONDS (default 5) with a fixed seed
#            over its seed corpus (scripts/fuzz.sh on build-asan/).
#   thread   build-tsan/: ThreadSanitizer over the multi-threaded tests (the
#            coordinator, serving, checkpoint writing and restore, the job
#            monitor, preemption, the OpenMP kernels, 1-2 rank MPI jobs, the
#            streamed data pipeline: every test named *stream*).
# Exits non-zero when any report, failing test or fuzz finding occurred.
#
#   scripts/sanitize.sh [unit|address|fuzz|thread]...   (default: address fuzz thread)
#   SANITIZE_CTEST_ARGS="-R Coordinator" scripts/sanitize.sh address   (part of the suite)
#   SANITIZE_CTEST_ARGS="-L unit" scripts/sanitize.sh thread   (the subset's unit tests only)
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

# The ThreadSanitizer subset (docs/TESTING.md, "ThreadSanitizer"): every test of
# these binaries, whose code runs threads: the coordinator and its client (Asio
# thread, registry, committer), serving (the REST server's pool, shutdown, the
# model managers' pollers, reloads, batching), checkpoint writing and restore
# (the direct-I/O writer's background thread, bundles, resume), the job
# monitor's heartbeat thread, the SIGTERM flag, the OpenMP kernels, and 1-2
# rank MPI jobs (data parallel with the coordinator, restore).
tsan_binaries=(coordinator_test checkpoint_committer_test worker_registry_test
               rest_server_test server_shutdown_test http_session_test tf_serving_rest_test
               loaded_model_test classify_regress_test
               direct_io_test file_system_test tensor_bundle_test checkpoint_contents_test
               resume_test trainer_test job_monitor_test preemption_test kernels_test
               data_parallel_mpi_test restore_mpi_test)
# ... and these job scripts (by ctest name): a training run (hosted
# coordinator, job monitor, checkpoint writes) and 1-3 rank jobs preempted by
# SIGTERM and resumed.
tsan_scripts=(cli checkpoint_resume)
# ... and, found by name so that new ones join without an edit here, the
# streamed data pipeline (the example stream's reader threads, the stream
# batches, the coordinator's stream plans): every test binary whose target
# name contains this word (case-insensitive), and every test of the built
# binaries or job script whose ctest name does (ExampleStream*, StreamBatches*,
# Coordinator*Stream*, cli_stream...).
tsan_name_word=stream
# Left out: the 3-rank and two-node copies of the MPI tests (same code, more
# processes on 2 cores), and two direct-I/O cases that repeat the
# single-threaded read path over 35 MiB (3 minutes under TSan; the writer's
# thread runs in the cases kept).
tsan_excluded='(_3ranks|^multinode_.*|^DirectIo\.(ReadsRightWithAnyNumberInFlight|ReadsWithoutIoUringToo))$'

# The test binaries of build-tsan/ named after tsan_name_word.
tsan_named_binaries() {
  cmake --build build-tsan --target help | sed -n 's/^\.\.\. \([A-Za-z0-9_]*_test\)$/\1/p' |
    grep -i -- "$tsan_name_word" || true
}

# A ctest -R regex naming every test of build-tsan/ that runs one of the
# binaries given, is one of tsan_scripts, or has tsan_name_word in its name
# and runs no test binary outside the ones given (a gtest case of a binary not
# built here shows up as BINARY_NOT_BUILT; it is never selected).
tsan_test_regex() {
  ctest --test-dir build-tsan --show-only=json-v1 |
    python3 -c '
import json, os, re, sys
word, build_dir, scripts, binaries = sys.argv[1], sys.argv[2], sys.argv[3].split(), set(sys.argv[4:])
tests_dir = os.path.join(os.path.abspath(build_dir), "tests") + os.sep
def wanted(test):
    name, command = test["name"], test.get("command", [])
    if name in scripts or binaries & {os.path.basename(a) for a in command}:
        return True
    runs_others = any(a.startswith(tests_dir) and os.path.basename(a) not in binaries for a in command)
    return re.search(word, name, re.I) and not name.endswith("_NOT_BUILT") and not runs_others
names = [t["name"] for t in json.load(sys.stdin)["tests"] if wanted(t)]
print("^(" + "|".join(re.escape(n) for n in names) + ")$")
' "$tsan_name_word" build-tsan "${tsan_scripts[*]}" "$@"
}

run_thread() {
  configure_sanitized build-tsan thread || return 1
  local named regex
  mapfile -t named < <(tsan_named_binaries)
  local binaries=("${tsan_binaries[@]}" "${named[@]}")
  echo "== building build-tsan/ (the multi-threaded tests and the shardtrain binary)"
  cmake --build build-tsan -j "$jobs" --target "${binaries[@]}" shardtrain || return 1
  regex=$(tsan_test_regex "${binaries[@]}") || return 1
  echo "== running the multi-threaded tests under ThreadSanitizer"
  # ignore_noninstrumented_modules: accesses inside the interceptors that
  # uninstrumented libraries call (libomp's own pthread_mutex_init/lock, Open
  # MPI's, libstdc++'s) are not checked; their synchronization still counts.
  # libarcher tells TSan about libomp's barriers and tasks (without it every
  # parallel loop is a false race). Reports stop the process, so any finding
  # fails its test.
  # shellcheck disable=SC2086  # word splitting of the extra ctest arguments is intended
  TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$PWD/scripts/tsan.supp}" \
    OMP_TOOL_LIBRARIES=/usr/lib/llvm-14/lib/libarcher.so \
    ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" --timeout 600 \
    -R "$regex" -E "$tsan_excluded" ${SANITIZE_CTEST_ARGS:-}
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
