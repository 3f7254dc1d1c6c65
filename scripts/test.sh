#!/usr/bin/env bash
# The test command: install what is missing, build (warnings are errors for our
# code), run every test with ctest. Works on a fresh Debian 12 machine as root.
# Extra arguments are passed to ctest (e.g. -L unit, -R tfrecord).
# With --sanitize first, what CI adds runs afterwards: the unit tests under ASan +
# UBSan, the fuzz smoke run and the multi-threaded tests under ThreadSanitizer
# (scripts/sanitize.sh unit fuzz thread; docs/TESTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
if [ "${1:-}" = --sanitize ]; then
  sanitize=1
  shift
fi
source scripts/common.sh
ensure_packages "${SHARDTRAIN_PACKAGES[@]}"
build_shardtrain
echo "== running tests"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
if [ "$sanitize" -eq 1 ]; then
  scripts/sanitize.sh unit fuzz thread
fi
