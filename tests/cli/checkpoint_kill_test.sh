#!/usr/bin/env bash
# Crash safety of checkpoints (issue 5 item 8): SIGKILL at random moments of a
# job that checkpoints every step (so most kills land inside a save), 30 times
# in a row, each run resuming the previous one. After every kill the state
# file must name a checkpoint that fully verifies (every CRC), and the next
# start sweeps the temporaries the killed save left. Two-rank jobs get a few
# kills of rank 1 as well. Finally the job runs to completion.
# Usage: checkpoint_kill_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"
flags=(--data "$work/data" --train-examples 640 --test-examples 200 --save-freq 1 --max-to-keep 3 --verbose 0)
run="$work/run"
RANDOM=7  # reproducible kill times

check_latest() {  # $1: trial label
  if [ -f "$run/checkpoints/checkpoint" ]; then
    out=$("$bin" inspect "$run/checkpoints" --verify 2>&1) ||
      fail "$1: the latest checkpoint does not verify: $(tail -2 <<<"$out")"
  fi
}

kills=0
for trial in $(seq 1 30); do
  "$bin" train "$src/configs/fashion_mlp.textproto" "${flags[@]}" --epochs 1000 --run-dir "$run" \
    >>"$work/log" 2>&1 &
  job=$!
  sleep "0.$((RANDOM % 6 + 2))$((RANDOM % 10))"  # 0.20 .. 0.79 s: setup, then saves every step
  kill -KILL "$job" 2>/dev/null && kills=$((kills + 1))
  wait "$job" 2>/dev/null
  check_latest "kill $trial"
done
for trial in 1 2 3 4 5; do  # two ranks: SIGKILL rank 1; the job aborts naming it
  mpirun -np 2 "$bin" train "$src/configs/fashion_mlp.textproto" "${flags[@]}" --epochs 1000 \
    --run-dir "$run" >>"$work/log" 2>&1 &
  job=$!
  sleep "0.$((RANDOM % 5 + 4))"
  rank1=$(pgrep -f "bin/shardtrain train .*$run" | sort -n | tail -1)
  [ -n "$rank1" ] && kill -KILL "$rank1" && kills=$((kills + 1))
  waited=0
  while kill -0 "$job" 2>/dev/null && [ $waited -lt 60 ]; do sleep 1; waited=$((waited + 1)); done
  kill -0 "$job" 2>/dev/null && { fail "2-rank trial $trial: still running 60 s after the kill"; kill -KILL "$job"; }
  wait "$job" 2>/dev/null
  check_latest "2-rank kill $trial"
done
[ $kills -ge 25 ] || fail "only $kills kills landed (need >= 25)"
step_before=$(sed -n 's/^model_checkpoint_path: "ckpt-\([0-9]*\)"/\1/p' "$run/checkpoints/checkpoint")
# The next start sweeps what the killed saves left, resumes and finishes.
"$bin" train "$src/configs/fashion_mlp.textproto" "${flags[@]}" --epochs 3 --save-freq epoch \
  --run-dir "$run" >"$work/final.log" 2>&1 || fail "final run failed: $(tail -3 "$work/final.log")"
ls "$run/checkpoints" | grep -qE 'tempstate|checkpoint\.tmp' && fail "temporaries left after a clean start: $(ls "$run/checkpoints")"
for index in "$run"/checkpoints/*.data-*; do
  [ -f "${index%.data-*}.index" ] || fail "orphan data file $index after a clean start"
done
echo "ok: $kills kills; every latest checkpoint verified; resumed from step ${step_before:-none}; $(grep -c 'removed .* (left by an unfinished save)' "$work/log" "$work/final.log" | awk -F: '{s += $2} END {print s}') leftovers swept"
[ $failures -eq 0 ] && echo "checkpoint_kill: all checks passed" && exit 0
echo "checkpoint_kill: $failures check(s) failed"; exit 1
