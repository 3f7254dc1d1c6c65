#!/usr/bin/env bash
# A standalone coordinator on 127.0.0.2 (with its job token) that dies mid-job
# never leaves the ranks hanging: after SIGKILL of the coordinator, and after
# SIGSTOP (alive but silent), every rank of a 2-rank job started with
# --heartbeat-timeout 3 exits non-zero within 10 s with an error naming the
# coordinator's address: from the heartbeat ("lost the coordinator: ...") or
# from the control-plane call in flight, e.g. a checkpoint report when a fast
# machine is saving at the epoch end as the coordinator dies. $MPIRUN (default mpirun) launches, e.g.
# tests/mpi/multinode_mpirun.sh to run each rank on its own simulated host.
# Usage: coordinator_dies_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

config="$src/configs/fashion_mlp.textproto"
printf 'coordinator-dies-%s\n' "$$" > "$work/token"

# run_and_signal SIGNAL: starts a coordinator and a 2-rank job, signals the
# coordinator once the ranks train, and checks the job's exit, timing and message.
run_and_signal() {
  local signal=$1 log="$work/$1.log"
  "$bin" coordinator "$config" --listen 127.0.0.2:0 --world-size 2 \
    --job-token-file "$work/token" --data "$work/data" >"$work/coordinator-$signal.log" 2>&1 &
  local coordinator=$!
  for _ in $(seq 100); do grep -q 'listening on' "$work/coordinator-$signal.log" && break; sleep 0.1; done
  local address
  address=$(grep -o 'listening on 127.0.0.2:[0-9]*' "$work/coordinator-$signal.log" | cut -d' ' -f3)
  timeout 120 ${MPIRUN:-mpirun} -np 2 "$bin" train "$config" --data "$work/data" \
    --run-dir "$work/run-$signal" --epochs 50 --verbose 2 --coordinator "$address" \
    --job-token-file "$work/token" --heartbeat-timeout 3 >"$log" 2>&1 &
  local job=$!
  for _ in $(seq 600); do grep -q 'steps/epoch' "$log" && break; sleep 0.1; done
  sleep 1
  local start=$SECONDS
  kill "-$signal" "$coordinator"
  while kill -0 "$job" 2>/dev/null && [ $((SECONDS - start)) -lt 60 ]; do sleep 0.5; done
  local took=$((SECONDS - start))
  kill -KILL "$coordinator" 2>/dev/null
  wait "$job"; local status=$?
  if [ $status -eq 0 ] || [ $took -gt 10 ]; then
    fail "SIG$signal of the coordinator: job exit $status after ${took}s: $(tail -3 "$log")"
  elif ! grep -q "error.*: .*coordinator at $address\\b" "$log"; then
    fail "SIG$signal of the coordinator: no message naming $address: $(grep -v '^Epoch' "$log" | head -5)"
  else
    echo "ok: SIG$signal of the coordinator -> exit $status after ${took}s: $(grep -m1 -o "error.*coordinator at $address.*" "$log")"
  fi
}

run_and_signal KILL
run_and_signal STOP
[ $failures -eq 0 ] && echo "coordinator dies: all checks passed" && exit 0
exit 1
