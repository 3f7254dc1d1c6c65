#!/usr/bin/env bash
# Checkpoints end to end (issue 5): a preempted job re-run with the same
# command resumes exactly where it stopped, on the same or a different number
# of ranks; the checkpoint holds tf.keras's keys; a changed config, a corrupted
# checkpoint and an interrupted save are handled.
#
# Preemption is real SIGTERM, made deterministic by
# SHARDTRAIN_TEST_SIGTERM_AT_STEP (rank 0 signals itself after that step).
# Small run: 960 examples, batch 32 → 30 steps per epoch, 3 epochs, a
# checkpoint every 7 steps.
# Usage: checkpoint_resume_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

# In memory: 1, 2 and 3 ranks train on the same global batches (the world-size changes compare them).
config="$work/fashion_mlp.textproto"
sed 's/^data {$/data {\n  in_memory: true/' "$src/configs/fashion_mlp.textproto" > "$config"
flags=(--data "$work/data" --epochs 3 --train-examples 960 --test-examples 1000 --save-freq 7 --verbose 2)
# train NPROC RUN_DIR [extra flags]: one run, output in RUN_DIR.log (appended).
train() {
  local np=$1 dir=$2; shift 2
  local launcher=()
  [ "$np" -gt 1 ] && launcher=(mpirun -np "$np" --oversubscribe)
  "${launcher[@]}" "$bin" train "$config" "${flags[@]}" --run-dir "$dir" "$@" >>"$dir.log" 2>&1
}
epoch_line() { grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | tail -1; }
# The deterministic parts of an epoch line (no timings).
metrics() { epoch_line "$1" "$2" | sed -E 's/, "examples_per_sec".*//'; }
field() { epoch_line "$1" "$2" | sed -E "s/.*\"$3\": ([^,}]*).*/\1/"; }

# --- same world size: bitwise-identical continuation (1 rank, then 2 ranks) ---
for np in 1 2; do
  ref="$work/ref$np" pre="$work/pre$np"
  train "$np" "$ref" || fail "reference run on $np rank(s) failed: $(tail -3 "$ref.log")"
  SHARDTRAIN_TEST_SIGTERM_AT_STEP=40 train "$np" "$pre"
  status=$?
  # (mpirun itself reports 1 once it forwarded SIGTERM; the ranks exit 0.)
  [ "$np" -eq 1 ] && [ $status -ne 0 ] && fail "preempted 1-rank run exited $status, expected 0"
  grep -q "preempted (SIGTERM): saved .*ckpt-40; run the same command again" "$pre.log" ||
    fail "$np rank(s): no preemption message: $(tail -3 "$pre.log")"
  grep -q 'model_checkpoint_path: "ckpt-40"' "$pre/checkpoints/checkpoint" ||
    fail "$np rank(s): state file does not name ckpt-40: $(cat "$pre/checkpoints/checkpoint")"
  cp -r "$pre" "$work/saved$np"  # for the world-size changes below
  train "$np" "$pre" || fail "resumed run on $np rank(s) failed: $(tail -3 "$pre.log")"
  grep -q "resuming from .*ckpt-40 (epoch 2, step 40, 320 examples into the epoch)" "$pre.log" ||
    fail "$np rank(s): did not resume from ckpt-40: $(tail -5 "$pre.log")"
  for epoch in 2 3; do
    if [ "$(metrics "$ref" $epoch)" != "$(metrics "$pre" $epoch)" ]; then
      fail "$np rank(s), epoch $epoch differs after resume: $(metrics "$ref" $epoch) vs $(metrics "$pre" $epoch)"
    fi
  done
  [ $failures -eq 0 ] && echo "ok: $np rank(s): preempted at step 40, resumed, epochs 2-3 bitwise identical"
done
ref1_epoch3=$(metrics "$work/ref1" 3)  # (ref1 is resumed with other settings further down)
ref2_epoch3=$(metrics "$work/ref2" 3)
ls "$work/ref1/checkpoints" | grep -q 'ckpt-7\.index' && fail "max_to_keep 5 should have deleted ckpt-7"
[ "$(grep -c all_model_checkpoint_paths "$work/ref1/checkpoints/checkpoint")" -eq 5 ] ||
  fail "state file should list 5 checkpoints: $(cat "$work/ref1/checkpoints/checkpoint")"

# --- a different world size: 2 -> 1 and 1 -> 3; every example once ---
for change in "2 1" "1 3"; do
  set -- $change
  dir="$work/change$1to$2"
  cp -r "$work/saved$1" "$dir"
  train "$2" "$dir" || fail "resume $1 -> $2 ranks failed: $(tail -3 "$dir.log")"
  grep -q "resuming from .*ckpt-40" "$dir.log" || fail "$1 -> $2 ranks did not resume"
  [ "$(field "$dir" 2 examples)" = 960 ] ||
    fail "$1 -> $2 ranks: epoch 2 trained on $(field "$dir" 2 examples) examples, expected 960 (each once)"
  ref_acc=$(field "$work/ref$1" 3 val_accuracy) acc=$(field "$dir" 3 val_accuracy)
  awk -v a="$ref_acc" -v b="$acc" 'BEGIN { d = a - b; exit !(d < 0.02 && d > -0.02) }' ||
    fail "$1 -> $2 ranks: final val_accuracy $acc vs $ref_acc uninterrupted"
  echo "ok: resumed $1 -> $2 ranks: 960 examples in the interrupted epoch, val_accuracy $acc (uninterrupted $ref_acc)"
done

# --- TensorFlow's keys (spec §3.2.1) in the bundle ---
out=$("$bin" inspect "$work/ref1/checkpoints" 2>&1)
for key in '_CHECKPOINTABLE_OBJECT_GRAPH' 'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE.*784, 512' \
    'layer_with_weights-1/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE' \
    'optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE.*int64'; do
  grep -qE -- "$key" <<<"$out" || fail "inspect lacks /$key/: $out"
done

# --- a changed config is refused unless allowed ---
out=$(train 1 "$work/ref1" --learning-rate 0.01 --epochs 4 2>&1; cat "$work/ref1.log")
grep -q "FailedPrecondition: checkpoint .* different job config.*--allow-config-change" <<<"$out" || fail "config change not refused: $(tail -3 "$work/ref1.log")"
train 1 "$work/ref1" --learning-rate 0.01 --epochs 4 --allow-config-change ||
  fail "--allow-config-change did not resume: $(tail -3 "$work/ref1.log")"
# A checkpoint that does not fit the model, on 2 ranks: rank 0 names the tensor
# and both shapes, every rank exits non-zero, nobody waits in a broadcast.
cp -r "$work/saved1" "$work/misfit"
sed 's/units: 512/units: 256/' "$config" > "$work/misfit.textproto"
config="$work/misfit.textproto" timeout 120 bash -c "$(declare -p flags bin work); $(declare -f train); train 2 '$work/misfit' --allow-config-change"
status=$?
[ $status -ne 0 ] && [ $status -ne 124 ] &&
  grep -q "FailedPrecondition: .*tensor 'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE' is float32 \[784, 512\] but the model has float32 \[784, 256\]" "$work/misfit.log" ||
  fail "2-rank restore into a misfitting model: exit $status, $(tail -4 "$work/misfit.log")"

# --- a damaged latest checkpoint: DataLoss naming tensor and file, then the newest intact one ---
cp -r "$work/saved1" "$work/corrupt"
printf '\x5a\x5a\x5a\x5a' | dd of="$work/corrupt/checkpoints/ckpt-40.data-00000-of-00001" bs=1 seek=1000 conv=notrunc status=none
train 1 "$work/corrupt" || fail "resume past a damaged checkpoint failed: $(tail -3 "$work/corrupt.log")"
grep -qE "warning: skipping damaged checkpoint .*ckpt-40: DataLoss: .*'layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE'.*ckpt-40.data-00000-of-00001" "$work/corrupt.log" ||
  fail "no DataLoss warning naming the tensor and file: $(grep -i warning "$work/corrupt.log")"
grep -q "resuming from .*ckpt-35 " "$work/corrupt.log" || fail "did not fall back to ckpt-35: $(grep resuming "$work/corrupt.log")"
[ "$ref1_epoch3" = "$(metrics "$work/corrupt" 3)" ] ||
  fail "after falling back, epoch 3 differs from the uninterrupted run: $ref1_epoch3 vs $(metrics "$work/corrupt" 3)"
# The same on 2 ranks: both ranks see the DataLoss and fall back together
# (damage that only one rank reads: tests/mpi/restore_mpi_test.cc).
cp -r "$work/saved2" "$work/corrupt2"
printf '\x5a\x5a\x5a\x5a' | dd of="$work/corrupt2/checkpoints/ckpt-40.data-00000-of-00002" bs=1 seek=1000 conv=notrunc status=none
train 2 "$work/corrupt2" || fail "2-rank resume past a damaged checkpoint failed: $(tail -3 "$work/corrupt2.log")"
grep -qE "warning: skipping damaged checkpoint .*ckpt-40: DataLoss: .*ckpt-40.data-00000-of-00002" "$work/corrupt2.log" &&
  grep -q "resuming from .*ckpt-35 " "$work/corrupt2.log" ||
  fail "2 ranks did not fall back to ckpt-35: $(grep -E "warning|resuming" "$work/corrupt2.log")"
[ "$ref2_epoch3" = "$(metrics "$work/corrupt2" 3)" ] ||
  fail "2 ranks, after falling back, epoch 3 differs from the uninterrupted run: $ref2_epoch3 vs $(metrics "$work/corrupt2" 3)"
# Every checkpoint damaged: an error listing them, never a silent fresh start.
cp -r "$work/saved1" "$work/allbad"
for f in "$work"/allbad/checkpoints/*.data-*; do
  printf '\x5a\x5a\x5a\x5a' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
done
train 1 "$work/allbad"; status=$?
[ $status -eq 1 ] && grep -q "DataLoss: no intact checkpoint in " "$work/allbad.log" &&
  grep -q -- "--no-resume starts afresh; nothing was deleted" "$work/allbad.log" ||
  fail "all checkpoints damaged: exit $status, $(tail -4 "$work/allbad.log")"
echo "ok: a damaged latest checkpoint falls back to the newest intact one; all damaged is an error"

# --- an interrupted save leaves the previous checkpoint current and is swept ---
cp -r "$work/saved1" "$work/crash"
touch "$work/crash/checkpoints/ckpt-47.data-00000-of-00001" \
      "$work/crash/checkpoints/ckpt-47.data-00000-of-00001.tempstate123" \
      "$work/crash/checkpoints/checkpoint.tmp0123456789abcdef0123456789abcdef"
train 1 "$work/crash" || fail "resume after a crashed save failed: $(tail -3 "$work/crash.log")"
grep -q "resuming from .*ckpt-40" "$work/crash.log" || fail "crash: did not resume from ckpt-40"
ls "$work/crash/checkpoints" | grep -qE 'tempstate|checkpoint\.tmp' && fail "temporary files not swept"

# --- policy from the config: save_best_only on val_accuracy, a metric in the name, weights only ---
{ cat "$config"; printf 'checkpoint { filepath: "best-{epoch:02d}-{val_accuracy:.3f}" save_best_only: true\n  monitor: "val_accuracy" save_weights_only: true max_to_keep: -1 }\n'; } > "$work/best.textproto"
"$bin" train "$work/best.textproto" "${flags[@]}" --save-freq epoch --epochs 4 --run-dir "$work/best" >"$work/best.log" 2>&1 ||
  fail "save_best_only run failed: $(tail -3 "$work/best.log")"
saved=$(ls "$work/best/checkpoints" | sed -n 's/\.index$//p' | tr '\n' ' ')
best=0 expected=""
for epoch in 1 2 3 4; do  # the epochs whose val_accuracy beat every earlier one
  acc=$(field "$work/best" $epoch val_accuracy)
  if awk -v a="$acc" -v b="$best" 'BEGIN { exit !(a > b) }'; then
    best=$acc expected+="$(printf 'best-%02d-%.3f ' "$epoch" "$acc")"
  fi
done
[ "$saved" = "$expected" ] || fail "save_best_only saved '$saved', expected '$expected'"
"$bin" inspect "$work/best/checkpoints" | grep -q OPTIMIZER_SLOT && fail "save_weights_only checkpoint holds optimizer slots"
echo "ok: save_best_only on val_accuracy saved: $saved"
# Preempted in epoch 2: the preemption save goes beside the best ones, the
# latest stays the best, and the resumed run ends as the uninterrupted one.
failed_before=$failures
SHARDTRAIN_TEST_SIGTERM_AT_STEP=40 "$bin" train "$work/best.textproto" "${flags[@]}" --save-freq epoch \
  --epochs 4 --run-dir "$work/bestpre" >"$work/bestpre.log" 2>&1 || fail "preempted save_best_only run failed"
# A run of the job without save_best_only resumes from that save too, and its first save drops it.
cp -r "$work/bestpre" "$work/bestplain"
"$bin" train "$config" "${flags[@]}" --save-freq epoch --epochs 2 --run-dir "$work/bestplain" \
  >"$work/bestplain.log" 2>&1 || fail "plain run after a save_best_only preemption failed"
grep -q "resuming from .*preemption/ckpt-40 " "$work/bestplain.log" ||
  fail "plain run: did not resume from the preemption save: $(grep resuming "$work/bestplain.log")"
[ -e "$work/bestplain/checkpoints/preemption" ] && fail "plain run: the preemption save outlived its next save"
[ -f "$work/bestpre/checkpoints/preemption/ckpt-40.index" ] ||
  fail "save_best_only preemption: no preemption/ckpt-40: $(ls -R "$work/bestpre/checkpoints")"
grep -q 'model_checkpoint_path: "best-01-' "$work/bestpre/checkpoints/checkpoint" ||
  fail "save_best_only preemption: the latest is not the best: $(cat "$work/bestpre/checkpoints/checkpoint")"
"$bin" train "$work/best.textproto" "${flags[@]}" --save-freq epoch --epochs 4 --run-dir "$work/bestpre" \
  >>"$work/bestpre.log" 2>&1 || fail "resumed save_best_only run failed: $(tail -3 "$work/bestpre.log")"
grep -q "resuming from .*preemption/ckpt-40 " "$work/bestpre.log" ||
  fail "save_best_only: did not resume from the preemption save: $(grep resuming "$work/bestpre.log")"
[ -e "$work/bestpre/checkpoints/preemption" ] && fail "save_best_only: the preemption save outlived the job"
[ "$(ls "$work/bestpre/checkpoints" | sed -n 's/\.index$//p' | tr '\n' ' ')" = "$saved" ] ||
  fail "save_best_only after preemption saved $(ls "$work/bestpre/checkpoints"), expected $saved"
[ "$(metrics "$work/best" 4)" = "$(metrics "$work/bestpre" 4)" ] ||
  fail "save_best_only: epoch 4 after the preemption differs"
[ $failures -eq $failed_before ] &&
  echo "ok: save_best_only preempted at step 40: resumed from preemption/ckpt-40, latest still the best"

# --- a checkpoint at an epoch's last, partial batch (1000 examples, batch 64: 16 steps) resumes ---
failed_before=$failures
end_flags=(--data "$work/data" --train-examples 1000 --test-examples 1000 --batch-size 64 --save-freq 16 --verbose 2)
"$bin" train "$config" "${end_flags[@]}" --epochs 2 --run-dir "$work/endref" >"$work/endref.log" 2>&1 ||
  fail "epoch-end reference run failed: $(tail -3 "$work/endref.log")"
"$bin" train "$config" "${end_flags[@]}" --epochs 1 --run-dir "$work/end" >"$work/end.log" 2>&1 ||
  fail "1-epoch run failed: $(tail -3 "$work/end.log")"
grep -q 'model_checkpoint_path: "ckpt-16"' "$work/end/checkpoints/checkpoint" ||
  fail "no checkpoint at the epoch's last step: $(cat "$work/end/checkpoints/checkpoint")"
"$bin" train "$config" "${end_flags[@]}" --epochs 2 --run-dir "$work/end" >>"$work/end.log" 2>&1 ||
  fail "resume from the epoch's last step failed: $(tail -3 "$work/end.log")"
[ "$(metrics "$work/endref" 2)" = "$(metrics "$work/end" 2)" ] ||
  fail "epoch 2 after resuming at the epoch's end differs: $(metrics "$work/endref" 2) vs $(metrics "$work/end" 2)"
[ $failures -eq $failed_before ] &&
  echo "ok: a checkpoint after an epoch's partial last batch resumes; epoch 2 bitwise identical"

[ $failures -eq 0 ] && echo "checkpoint_resume: all checks passed" && exit 0
echo "checkpoint_resume: $failures check(s) failed"; exit 1
