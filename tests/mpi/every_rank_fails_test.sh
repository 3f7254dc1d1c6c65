#!/usr/bin/env bash
# A failure every rank of a 2-rank job meets ends it without MPI_Abort: each
# rank returns the error and finalizes MPI, the job exits non-zero with the
# error's message, and Open MPI's "MPI_ABORT was invoked" banner does not
# appear. Two such failures: a data directory that does not exist (agreed on
# at setup, with any --collective) and a diverged loss in training (TerminateOnNaN, from the summed
# loss, so every rank sees it at the same step).
# Usage: every_rank_fails_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

# expect_clean_failure NAME EXIT_CODE MESSAGE_REGEX TRAIN_ARGS...
expect_clean_failure() {
  local name=$1 code=$2 message=$3; shift 3
  local log="$work/$name.log"
  timeout 60 ${MPIRUN:-mpirun} -np 2 "$bin" train "$@" --run-dir "$work/run-$name" >"$log" 2>&1
  local status=$?
  if [ $status -ne "$code" ]; then fail "$name: exit $status, expected $code"; cat "$log"; return; fi
  if [ "$(grep -cE "$message" "$log")" -ne 2 ]; then
    fail "$name: expected the message /$message/ once per rank:"; cat "$log"; return
  fi
  if grep -qE 'MPI_ABORT|ORTE_ERROR_LOG' "$log"; then
    fail "$name: the job was aborted instead of ending cleanly:"; cat "$log"; return
  fi
  echo "ok: $name -> exit $status: $(grep -m1 -oE "$message" "$log")"
}

expect_clean_failure missing_data 1 "data directory '[^']*' does not exist" \
  "$src/configs/fashion_mlp.textproto" --data "$work/no-such-dir"
# The same with --collective nccl (no CUDA here, or a failed setup): the
# agreement still reports the setup error, not the collective's.
expect_clean_failure missing_data_nccl 1 "data directory '[^']*' does not exist" \
  "$src/configs/fashion_mlp.textproto" --data "$work/no-such-dir" --collective nccl
sed -e 's/adam {}.*/learning_rate: 1e30 sgd {}/' "$src/configs/fashion_mlp.textproto" \
  >"$work/diverges.textproto"
expect_clean_failure diverged_loss 2 "invalid loss \(nan\) at epoch 1" \
  "$work/diverges.textproto" --data "$work/data" --epochs 1 --train-examples 640 --test-examples 64
[ $failures -eq 0 ] && echo "every rank fails: all checks passed" && exit 0
exit 1
