#!/usr/bin/env bash
# The test command: install what is missing, build (warnings are errors for our
# code), run every test with ctest. Works on a fresh Debian 12 machine as root.
# Extra arguments are passed to ctest (e.g. -L unit, -R tfrecord).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages "${SHARDTRAIN_PACKAGES[@]}"
build_shardtrain
echo "== running tests"
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
