#!/usr/bin/env bash
# The final state is always saved (issue 25, point 2), on 1 and 2 ranks:
# with --save-freq N not dividing the step count the run's last step is
# committed as well (retention as usual); `evaluate` afterwards gives the test
# loss the run printed; re-running the finished command trains and saves
# nothing, says the job is complete and exits 0 on every rank (a hang fails
# after 120 s); raising --epochs continues from the final checkpoint exactly
# as an uninterrupted run. Also: with --save-freq epoch a re-run says
# complete, and --save-freq none still saves nothing.
# Small run: 960 examples, batch 32 → 30 steps per epoch, 2 epochs = 60 steps,
# a checkpoint every 7 steps (the last periodic one is ckpt-56).
# Usage: final_checkpoint_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

# In memory: 1 and 2 ranks take the same steps (30 per epoch).
config="$work/fashion_mlp.textproto"
sed 's/^data {$/data {\n  in_memory: true/' "$src/configs/fashion_mlp.textproto" > "$config"
flags=(--data "$work/data" --train-examples 960 --test-examples 1000 --verbose 2)
# train NPROC RUN_DIR [extra flags]: one run of at most 120 s, output appended to RUN_DIR.log.
train() {
  local np=$1 dir=$2; shift 2
  local launcher=()
  [ "$np" -gt 1 ] && launcher=(mpirun -np "$np" --oversubscribe)
  timeout 120 "${launcher[@]}" "$bin" train "$config" "${flags[@]}" --run-dir "$dir" "$@" \
    >>"$dir.log" 2>&1
}
latest() { sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$1/checkpoints/checkpoint" 2>/dev/null; }
kept() { ls "$1/checkpoints" | sed -n 's/\.index$//p' | sort -t- -k2 -n | tr '\n' ' '; }
test_loss() { grep -o 'test loss: [0-9.]*' | tail -1 | cut -d' ' -f3; }
# What a run directory holds that a run without training leaves unchanged.
snapshot() { kept "$1"; cat "$1/checkpoints/checkpoint" "$1/logs/metrics.jsonl"; }
epoch_metrics() { grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | sed -E 's/, "examples_per_sec".*//'; }

for np in 1 2; do
  dir="$work/run$np"
  train "$np" "$dir" --epochs 2 --save-freq 7 ||
    fail "$np rank(s): training failed: $(tail -3 "$dir.log")"
  [ "$(latest "$dir")" = ckpt-60 ] ||
    fail "$np rank(s): the latest checkpoint after 60 steps is '$(latest "$dir")', expected ckpt-60"
  [ "$(kept "$dir")" = "ckpt-35 ckpt-42 ckpt-49 ckpt-56 ckpt-60 " ] ||
    fail "$np rank(s): kept '$(kept "$dir")', expected the 5 newest (max_to_keep 5) ending in ckpt-60"
  printed=$(test_loss <"$dir.log")
  evaluated=$("$bin" evaluate "$config" --data "$work/data" --run-dir "$dir" --test-examples 1000 \
    --json | sed -E 's/.*"loss": ([^,]*),.*/\1/')
  awk -v a="$printed" -v b="$evaluated" 'BEGIN { d = a - b; exit !(a != "" && d <= 6e-5 && d >= -6e-5) }' ||
    fail "$np rank(s): evaluate after training gives test loss $evaluated, the run printed $printed"
  [ $failures -eq 0 ] && echo "ok: $np rank(s): final step saved as ckpt-60; evaluate's loss $evaluated = printed $printed"

  # The finished command again: complete, nothing trained or saved, exit 0.
  before=$(snapshot "$dir") lines=$(wc -l <"$dir.log")
  train "$np" "$dir" --epochs 2 --save-freq 7 || fail "$np rank(s): re-running the finished job exited $?"
  rerun=$(tail -n +$((lines + 1)) "$dir.log")
  grep -q "job complete: .*ckpt-60 is step 60, the end of epoch 2 (epochs: 2); nothing to train" <<<"$rerun" ||
    fail "$np rank(s): the re-run does not say the job is complete: $(tail -4 <<<"$rerun")"
  grep -qE "resuming|Epoch [0-9]" <<<"$rerun" && fail "$np rank(s): the re-run trained: $(grep -E "resuming|Epoch" <<<"$rerun")"
  [ "$(snapshot "$dir")" = "$before" ] || fail "$np rank(s): the re-run changed the checkpoints or metrics log"
  [ "$(test_loss <<<"$rerun")" = "$printed" ] ||
    fail "$np rank(s): the re-run printed test loss '$(test_loss <<<"$rerun")', the finished run $printed"
  [ $failures -eq 0 ] && echo "ok: $np rank(s): re-running the finished job says complete, exits 0, trains nothing"

  # --epochs raised: continues from ckpt-60 as an uninterrupted 3-epoch run.
  train "$np" "$dir" --epochs 3 --save-freq 7 || fail "$np rank(s): --epochs 3 failed: $(tail -3 "$dir.log")"
  grep -q "resuming from .*ckpt-60 (epoch 3, step 60, 0 examples into the epoch)" "$dir.log" ||
    fail "$np rank(s): --epochs 3 did not resume from ckpt-60: $(grep -E "resuming|complete" "$dir.log")"
  [ "$(latest "$dir")" = ckpt-90 ] || fail "$np rank(s): after --epochs 3 the latest is '$(latest "$dir")', expected ckpt-90"
  ref="$work/ref$np"
  train "$np" "$ref" --epochs 3 --save-freq 7 || fail "$np rank(s): reference run failed: $(tail -3 "$ref.log")"
  [ -n "$(epoch_metrics "$ref" 3)" ] && [ "$(epoch_metrics "$ref" 3)" = "$(epoch_metrics "$dir" 3)" ] ||
    fail "$np rank(s): epoch 3 after raising --epochs differs: $(epoch_metrics "$dir" 3) vs $(epoch_metrics "$ref" 3)"
  [ $failures -eq 0 ] && echo "ok: $np rank(s): --epochs 3 continued from ckpt-60, epoch 3 bitwise identical"
done

# --save-freq epoch: the last epoch's save is the final step; a re-run says complete.
dir="$work/epoch"
train 1 "$dir" --epochs 2 --save-freq epoch || fail "--save-freq epoch run failed: $(tail -3 "$dir.log")"
lines=$(wc -l <"$dir.log")
train 1 "$dir" --epochs 2 --save-freq epoch || fail "--save-freq epoch: the re-run exited $?"
rerun=$(tail -n +$((lines + 1)) "$dir.log")
[ "$(kept "$dir")" = "ckpt-30 ckpt-60 " ] || fail "--save-freq epoch kept '$(kept "$dir")', expected ckpt-30 ckpt-60"
grep -q "job complete: .*ckpt-60 is step 60, the end of epoch 2 (epochs: 2)" <<<"$rerun" &&
  ! grep -q "resuming" <<<"$rerun" || fail "--save-freq epoch: the re-run says $(grep -E "resuming|complete" <<<"$rerun")"

# --save-freq none: preemption saves only, so a finished run leaves no checkpoint.
dir="$work/none"
train 1 "$dir" --epochs 1 --save-freq none || fail "--save-freq none run failed: $(tail -3 "$dir.log")"
[ -z "$(kept "$dir")" ] || fail "--save-freq none saved '$(kept "$dir")'"

[ $failures -eq 0 ] && echo "final_checkpoint: all checks passed" && exit 0
echo "final_checkpoint: $failures check(s) failed"; exit 1
