#!/usr/bin/env bash
# Trainer throughput vs PyTorch, in one run: for batch 32 and 256, alternates
# shardtrain's train_bench and PyTorch (bench/pytorch_mlp.py), REPS times each,
# 2 threads each, and prints a markdown table of medians with the GEMM floor
# (bench/step_table.sh).
# Needs a build (scripts/test.sh) and python3-torch (installed if missing).
# Environment: REPS (default 5), SECONDS_EACH (default 3), BATCHES (default "32 256").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
source bench/step_table.sh
ensure_packages python3-torch
# shellcheck disable=SC2086  # BATCHES is a list
step_table build/bin/train_bench bench/pytorch_mlp.py 2 ${BATCHES:-32 256}
