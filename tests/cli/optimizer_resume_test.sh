#!/usr/bin/env bash
# Learning-rate schedules, gradient clipping and weight decay survive a
# preemption exactly (issue 25 point 4): a run preempted by SIGTERM at step 40
# and re-run with the same command ends with the same metrics and the same
# checkpoint bytes as an uninterrupted run. Two settings: 2 ranks with AdamW,
# global_clipnorm (on the mean gradient over ranks) and CosineDecay with
# warmup; 1 rank with SGD momentum, clipnorm and PiecewiseConstantDecay.
# Small run: 960 examples, batch 32 -> 30 steps per epoch, 3 epochs, a
# checkpoint every 7 steps. Usage: optimizer_resume_test.sh BUILD_BIN_DIR
# SOURCE_DIR; exits 77 (skip) without Fashion-MNIST.
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

flags=(--data "$work/data" --epochs 3 --train-examples 960 --test-examples 1000 --save-freq 7 --verbose 2)
# write_config NAME OPTIMIZER_BODY: fashion_mlp with another optimizer block.
write_config() {
  sed '/^optimizer {/,/^}/d' "$src/configs/fashion_mlp.textproto" > "$work/$1.textproto"
  printf 'optimizer {\n%s\n}\n' "$2" >> "$work/$1.textproto"
}
train() {  # train NPROC CONFIG RUN_DIR
  local np=$1 config=$2 dir=$3 launcher=()
  [ "$np" -gt 1 ] && launcher=(mpirun -np "$np" --oversubscribe)
  "${launcher[@]}" "$bin" train "$config" "${flags[@]}" --run-dir "$dir" >>"$dir.log" 2>&1
}
metrics() { grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | tail -1 | sed -E 's/, "examples_per_sec".*//'; }
latest() { sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$1/checkpoints/checkpoint"; }

write_config adamw '  adamw { }
  weight_decay: 0.01
  global_clipnorm: 0.5
  learning_rate_schedule { cosine_decay { initial_learning_rate: 0 decay_steps: 70
                                          warmup_target: 0.002 warmup_steps: 20 alpha: 0.1 } }'
write_config sgd '  sgd { momentum: 0.9 }
  clipnorm: 0.25
  learning_rate_schedule { piecewise_constant_decay { boundaries: [25, 45] values: [0.05, 0.02, 0.005] } }'

for setting in "2 adamw" "1 sgd"; do
  set -- $setting
  # Both runs use the same run directory, since the checkpoint stores the config with it.
  np=$1 config="$work/$2.textproto" ref="$work/ref-$2" pre="$work/run-$2"
  train "$np" "$config" "$pre" || fail "$2: reference run failed: $(tail -3 "$pre.log")"
  mv "$pre" "$ref" && mv "$pre.log" "$ref.log"
  grep -qE "schedule=(CosineDecay|PiecewiseConstantDecay)" "$ref.log" ||
    fail "$2: the run does not name its schedule: $(grep -i optimizer "$ref.log" | head -2)"
  SHARDTRAIN_TEST_SIGTERM_AT_STEP=40 train "$np" "$config" "$pre"
  grep -q "preempted (SIGTERM): saved .*ckpt-40" "$pre.log" || fail "$2: not preempted: $(tail -3 "$pre.log")"
  train "$np" "$config" "$pre" || fail "$2: resumed run failed: $(tail -3 "$pre.log")"
  grep -q "resuming from .*ckpt-40" "$pre.log" || fail "$2: did not resume from ckpt-40"
  for epoch in 2 3; do
    [ "$(metrics "$ref" $epoch)" = "$(metrics "$pre" $epoch)" ] ||
      fail "$2, epoch $epoch differs after resume: $(metrics "$ref" $epoch) vs $(metrics "$pre" $epoch)"
  done
  last=$(latest "$ref")
  [ -n "$last" ] && [ "$last" = "$(latest "$pre")" ] || fail "$2: latest checkpoints '$last' vs '$(latest "$pre")'"
  for f in "$ref/checkpoints/$last".*; do
    cmp -s "$f" "$pre/checkpoints/$(basename "$f")" || fail "$2: $(basename "$f") differs after resume"
  done
  [ $failures -eq 0 ] && echo "ok: $2 on $np rank(s): preempted at step 40, resumed, metrics and $last bitwise identical"
done

[ $failures -eq 0 ] && echo "optimizer_resume: all checks passed" && exit 0
echo "optimizer_resume: $failures check(s) failed"; exit 1
