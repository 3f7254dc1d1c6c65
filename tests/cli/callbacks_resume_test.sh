#!/usr/bin/env bash
# Keras callbacks and fit options end to end (issue 25 point 5, issue 24
# point 5):
#   * a 2-rank job with EarlyStopping (restore_best_weights) and
#     ReduceLROnPlateau, preempted by SIGTERM after the first rate cut and
#     re-run, cuts the rate and stops at the same epochs, with the same metrics
#     and the same final checkpoint bytes (best weights restored) as an
#     uninterrupted run; its re-run says the job is complete;
#   * a ReduceLROnPlateau job resumed with --learning-rate and
#     --allow-config-change trains at the new rate with fresh plateau counters;
#   * TerminateOnNaN: a diverging run exits non-zero naming the step;
#   * validation_split validates on the last training examples; initial_epoch
#     skips the first epochs and logs absolute epoch numbers.
# Small run: 480 examples, batch 32 -> 15 steps per epoch, at most 10 epochs.
# Usage: callbacks_resume_test.sh BUILD_BIN_DIR SOURCE_DIR; exits 77 (skip)
# without Fashion-MNIST.
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

flags=(--data "$work/data" --train-examples 480 --test-examples 500 --save-freq 7 --verbose 2)
# write_config NAME TRAINING_AND_CALLBACKS: fashion_mlp with other training/callbacks blocks.
write_config() {
  # In memory: the trajectories checked below are the in-memory loader's on 1 and 2 ranks.
  sed '/^training {/,$d; s/^data {$/data {\n  in_memory: true/' "$src/configs/fashion_mlp.textproto" \
    > "$work/$1.textproto"
  printf '%s\n' "$2" >> "$work/$1.textproto"
}
train() {  # train NPROC CONFIG RUN_DIR
  local np=$1 config=$2 dir=$3 launcher=()
  [ "$np" -gt 1 ] && launcher=(mpirun -np "$np" --oversubscribe)
  "${launcher[@]}" "$bin" train "$config" "${flags[@]}" --run-dir "$dir" >>"$dir.log" 2>&1
}
metrics() { grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | tail -1 | sed -E 's/, "examples_per_sec".*//'; }
latest() { sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$1/checkpoints/checkpoint"; }
stop_epoch() { sed -n 's/^Epoch \([0-9]*\): early stopping$/\1/p' "$1.log" | tail -1; }
cuts() { grep 'ReduceLROnPlateau reducing' "$1.log" | tr '\n' ' '; }

# --- EarlyStopping + ReduceLROnPlateau: a preempted run resumes exactly ---
write_config es 'training { batch_size: 32 epochs: 10 seed: 1 device: "cpu" }
callbacks {
  early_stopping { min_delta: 0.02 patience: 2 restore_best_weights: true }
  reduce_lr_on_plateau { factor: 0.5 patience: 1 min_delta: 0.05 }
}'
config="$work/es.textproto" ref="$work/ref" run="$work/run"
# Both runs use the same run directory, since the checkpoint stores the config with it.
train 2 "$config" "$run" || fail "reference run failed: $(tail -3 "$run.log")"
mv "$run" "$ref" && mv "$run.log" "$ref.log"
stopped=$(stop_epoch "$ref")
[ -n "$stopped" ] && [ "$stopped" -gt 4 ] && [ "$stopped" -lt 10 ] ||
  fail "the reference run should stop early after epoch 4: $(tail -5 "$ref.log")"
grep -q "Epoch 4: ReduceLROnPlateau reducing learning rate to 0.0005" "$ref.log" ||
  fail "the reference run should cut the rate after epoch 4: $(cuts "$ref")"
# Preempted in epoch 5 (steps 61-75), after the first cut: saved at step 64.
SHARDTRAIN_TEST_SIGTERM_AT_STEP=62 train 2 "$config" "$run"
grep -q "preempted (SIGTERM): saved .*ckpt-64" "$run.log" || fail "not preempted: $(tail -3 "$run.log")"
train 2 "$config" "$run" || fail "resumed run failed: $(tail -3 "$run.log")"
grep -q "resuming from .*ckpt-64" "$run.log" || fail "did not resume from ckpt-64: $(tail -5 "$run.log")"
[ "$(stop_epoch "$run")" = "$stopped" ] || fail "resumed run stopped after epoch $(stop_epoch "$run"), not $stopped"
[ "$(cuts "$run")" = "$(cuts "$ref")" ] || fail "rate cuts differ: $(cuts "$run") vs $(cuts "$ref")"
for epoch in $(seq 4 "${stopped:-4}"); do
  [ "$(metrics "$ref" "$epoch")" = "$(metrics "$run" "$epoch")" ] ||
    fail "epoch $epoch differs after resume: $(metrics "$ref" "$epoch") vs $(metrics "$run" "$epoch")"
done
last=$(latest "$ref")
[ -n "$last" ] && [ "$last" = "$(latest "$run")" ] || fail "latest checkpoints '$last' vs '$(latest "$run")'"
for f in "$ref/checkpoints/$last".*; do
  cmp -s "$f" "$run/checkpoints/$(basename "$f")" || fail "$(basename "$f") differs after resume"
done
grep -q "Restoring model weights from the end of the best epoch" "$ref.log" || fail "no best-weights message"
train 2 "$config" "$run" || fail "re-run of the stopped job failed: $(tail -3 "$run.log")"
grep -q "job complete: .*EarlyStopping stopped training after epoch $stopped" "$run.log" ||
  fail "re-run does not say the job is complete: $(tail -3 "$run.log")"
[ $failures -eq 0 ] && echo "ok: 2 ranks: preempted at step 64, resumed, stopped after epoch $stopped, $last bitwise identical"

# --- ReduceLROnPlateau: --learning-rate changed on resume is the rate trained at ---
# min_delta 10: no epoch improves, so with patience 1 every second epoch cuts the
# rate. Epoch 2 cuts 0.001 to 0.0005; resumed with 0.0001 the counters start
# afresh (epoch 3 sets best), so epoch 4 cuts 0.0001 to 5e-05. Before the fix the
# checkpoint's 0.0005 and counters came back and epoch 3 cut it to 0.00025.
write_config lr 'training { batch_size: 32 epochs: 2 seed: 1 device: "cpu" }
callbacks { reduce_lr_on_plateau { factor: 0.5 patience: 1 min_delta: 10 } }'
lr="$work/lr"
train 1 "$work/lr.textproto" "$lr" || fail "learning-rate run failed: $(tail -3 "$lr.log")"
"$bin" train "$work/lr.textproto" "${flags[@]}" --run-dir "$lr" --epochs 4 --learning-rate 0.0001 \
  --allow-config-change >"$lr.resumed.log" 2>&1 || fail "changed-rate resume failed: $(tail -3 "$lr.resumed.log")"
grep -q "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.0005" "$lr.log" ||
  fail "the first run should cut the rate after epoch 2: $(cuts "$lr")"
grep -q "ReduceLROnPlateau: optimizer.learning_rate changed from 0.001 to 0.0001 .*training continues at 0.0001" \
  "$lr.resumed.log" || fail "the resume does not say it trains at 0.0001: $(grep -i rate "$lr.resumed.log")"
[ "$(cuts "$lr.resumed")" = "Epoch 4: ReduceLROnPlateau reducing learning rate to 5e-05. " ] ||
  fail "resumed at 0.0001, only epoch 4 should cut the rate, to 5e-05: $(cuts "$lr.resumed")"
[ $failures -eq 0 ] && echo "ok: resumed with --learning-rate 0.0001: trains at 0.0001, epoch 4 cuts it to 5e-05"

# --- TerminateOnNaN: a diverging run fails naming the step ---
"$bin" train "$config" "${flags[@]}" --run-dir "$work/nan" --learning-rate 3e38 >"$work/nan.log" 2>&1
status=$?
[ $status -ne 0 ] || fail "a diverging run exited 0"
grep -q "invalid loss (.*) at epoch 1, step [0-9]* of 15 (global step [0-9]*)" "$work/nan.log" ||
  fail "no TerminateOnNaN error: $(tail -3 "$work/nan.log")"
[ $failures -eq 0 ] && echo "ok: a diverging run exits $status: $(grep -o 'invalid loss[^:]*' "$work/nan.log" | head -1)"

# --- validation_split: the last 20% of the 480 examples validate; initial_epoch 2 of 3 ---
write_config split 'training { batch_size: 32 epochs: 3 initial_epoch: 2 seed: 1 device: "cpu"
                              validation_split: 0.2 }'
train 1 "$work/split.textproto" "$work/split" || fail "validation_split run failed: $(tail -3 "$work/split.log")"
grep -q "384 training examples (12 steps/epoch), 96 validation examples" "$work/split.log" ||
  fail "validation_split 0.2 of 480 should give 384/96: $(grep 'examples' "$work/split.log" | head -2)"
grep -q "starting at epoch 3 (training.initial_epoch 2)" "$work/split.log" ||
  fail "initial_epoch 2 not announced: $(head -3 "$work/split.log")"
[ "$(grep -c '"epoch"' "$work/split/logs/metrics.jsonl")" = 1 ] && [ -n "$(metrics "$work/split" 3)" ] ||
  fail "initial_epoch 2 of 3 should train and log epoch 3 only: $(cat "$work/split/logs/metrics.jsonl")"
[ $failures -eq 0 ] && echo "ok: validation_split 0.2: 384 training, 96 validation examples; initial_epoch 2 logs epoch 3"

[ $failures -eq 0 ] && echo "callbacks_resume: all checks passed" && exit 0
echo "callbacks_resume: $failures check(s) failed"; exit 1
