#!/usr/bin/env bash
# A rank that dies never leaves the job hanging: under `mpirun -np 2`, SIGKILL
# of rank 1 (and, with --heartbeat-timeout 3, SIGSTOP of rank 1) makes the
# whole job exit non-zero within 30 s with a message naming rank 1.
# Usage: dead_rank_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without
# Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

# run_and_signal SIGNAL EXTRA_FLAGS...: starts a 2-rank job, signals rank 1
# once it trains, and checks the job's exit, timing and message.
run_and_signal() {
  local signal=$1; shift
  local log="$work/$signal.log"
  ${MPIRUN:-mpirun} -np 2 "$bin" train "$src/configs/fashion_mlp.textproto" --data "$work/data" \
    --run-dir "$work/run-$signal" --epochs 50 --verbose 2 "$@" >"$log" 2>&1 &
  local job=$!
  local rank1=""
  # Rank 1 by its environment (under a multi-host launcher the ranks start in
  # any order); the pattern matches the ranks, not mpirun's command line.
  local ranks="^$bin train .*$work/run-$signal"
  for _ in $(seq 600); do  # wait until both ranks run
    for pid in $(pgrep -f "$ranks"); do
      tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && rank1=$pid
    done
    [ -n "$rank1" ] && [ "$(pgrep -fc "$ranks")" -ge 2 ] && break
    sleep 0.1
  done
  # Into training: rank 0 describes it once every rank is in Fit, heartbeating
  # (a rank stopped while still loading data is not the coordinator's to see).
  for _ in $(seq 600); do grep -q 'steps/epoch' "$log" && break; sleep 0.1; done
  if [ -z "$rank1" ] || ! grep -q 'steps/epoch' "$log"; then
    fail "SIG$signal: the job did not start training within 60 s (rank 1 pid '$rank1'):"
    cat "$log"; kill -KILL "$job" 2>/dev/null; wait "$job"; return
  fi
  sleep 1
  local start=$SECONDS
  kill "-$signal" "$rank1"
  local waited=0
  while kill -0 "$job" 2>/dev/null && [ $waited -lt 60 ]; do sleep 1; waited=$((waited + 1)); done
  if kill -0 "$job" 2>/dev/null; then
    fail "SIG$signal of rank 1: the job still runs after 60 s"; kill -KILL "$job"; return
  fi
  wait "$job"; local status=$?
  local took=$((SECONDS - start))
  if [ $status -eq 0 ]; then fail "SIG$signal: job exited 0"; fi
  if [ $took -gt 30 ]; then fail "SIG$signal: job took ${took}s to exit"; fi
  if ! grep -q "rank 1 (host .*pid $rank1)" "$log"; then
    fail "SIG$signal: no message naming rank 1 (pid $rank1):"; cat "$log"
  else
    echo "ok: SIG$signal of rank 1 -> exit $status after ${took}s: $(grep -m1 -o 'rank 1 (host [^)]*) [^(]*' "$log")"
  fi
}

run_and_signal KILL
run_and_signal STOP --heartbeat-timeout 3
[ $failures -eq 0 ] && echo "dead rank: all checks passed" && exit 0
exit 1
