#!/usr/bin/env bash
# Reference-CNN training step vs PyTorch, in one run: for batch 64 and 256,
# alternates shardtrain's cnn_bench and PyTorch (bench/torch_cnn.py), REPS
# times each, THREADS threads each, and prints a markdown table of medians with
# the step's GEMM floor (cnn_bench's header comment lists its products;
# bench/step_table.sh the table).
# Needs a build (scripts/test.sh) and python3-torch (installed if missing).
# Environment: REPS (default 5), SECONDS_EACH (default 3), BATCHES (default
# "64 256"), THREADS (default: the cores, nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
source bench/step_table.sh
ensure_packages python3-torch
# shellcheck disable=SC2086  # BATCHES is a list
step_table build/bin/cnn_bench bench/torch_cnn.py "${THREADS:-$(nproc)}" ${BATCHES:-64 256}
