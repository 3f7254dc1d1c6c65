#!/usr/bin/env bash
# Frozen layers end to end (issue 25: "trainable": false in a Keras JSON was
# ignored, so the frozen layer trained, kept Adam slots and was exported as
# trainable). The transfer-learning recipe of the README: a base trained and
# exported as .keras; its JSON with the first Dense frozen; train with
# --model-json and --init-from; the frozen kernel and bias are byte-identical
# to the base's, have no optimizer slots, exports say "trainable": false; a
# preempted run resumes exactly; every layer frozen is InvalidArgument;
# unfreezing and fine-tuning with a lower --learning-rate trains the base.
# Usage: frozen_layers_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

config="$src/configs/fashion_mlp.textproto"
flags=(--data "$work/data" --train-examples 1000 --test-examples 500 --verbose 2)
kernel0='layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE'
bias0='layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE'
kernel1='layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE'

# tensor_bytes CHECKPOINT_DIR KEY: the tensor's bytes as hex (from the data file inspect names),
# or "missing".
tensor_bytes() {
  "$bin" inspect "$1" --json 2>/dev/null | python3 -c '
import json, sys
listing = json.load(sys.stdin)
entry = next(t for t in listing["tensors"] if t["key"] == sys.argv[1])
path = "%s.data-%05d-of-%05d" % (listing["prefix"], entry["shard"], listing["num_shards"])
with open(path, "rb") as f:
    f.seek(entry["offset"])
    print(f.read(entry["bytes"]).hex())' "$2" 2>/dev/null || echo missing
}
# compare_tensor same|differs KEY DIR_A DIR_B MESSAGE: fails with MESSAGE unless the tensor's
# bytes in the two checkpoint directories are the same / differ.
compare_tensor() {
  local a b
  a=$(tensor_bytes "$3" "$2") b=$(tensor_bytes "$4" "$2")
  if [ "$a" = missing ] || [ "$b" = missing ]; then
    fail "cannot read $2 in $3 or $4"
  elif { [ "$1" = same ] && [ "$a" != "$b" ]; } || { [ "$1" = differs ] && [ "$a" = "$b" ]; }; then
    fail "$5"
  fi
}
# set_trainable IN OUT VALUE LAYER...: the Keras JSON with "trainable" set on the named layers.
set_trainable() {
  python3 - "$@" <<'EOF'
import json, sys
source, target, value, names = sys.argv[1], sys.argv[2], sys.argv[3] == "true", sys.argv[4:]
model = json.load(open(source))
for layer in model["config"]["layers"]:
    if layer["config"].get("name") in names:
        layer["config"]["trainable"] = value
json.dump(model, open(target, "w"))
EOF
}

# --- the base: the tutorial model, one epoch, exported as .keras and as JSON ---
"$bin" train "$config" "${flags[@]}" --epochs 1 --run-dir "$work/base" >"$work/base.log" 2>&1 ||
  fail "base run failed: $(tail -3 "$work/base.log")"
"$bin" export --config "$config" --data "$work/data" --run-dir "$work/base" --format keras \
  --output "$work/base.keras" >/dev/null 2>&1 || fail "export of the base as .keras failed"
"$bin" export --config "$config" --data "$work/data" --run-dir "$work/base" --format json \
  --output "$work/model.json" >/dev/null 2>&1 || fail "export of the base as JSON failed"
set_trainable "$work/model.json" "$work/frozen.json" false dense

# --- train with the base frozen: its bytes stay, it has no slots, exports say so ---
frozen=(--model-json "$work/frozen.json" --init-from "$work/base.keras" --epochs 2)
"$bin" train "$config" "${flags[@]}" "${frozen[@]}" --run-dir "$work/run" >"$work/run.log" 2>&1 ||
  fail "frozen run failed: $(tail -3 "$work/run.log")"
for key in "$kernel0" "$bias0"; do
  compare_tensor same "$key" "$work/base/checkpoints" "$work/run/checkpoints" \
    "the frozen layer's $key changed in training"
done
compare_tensor differs "$kernel1" "$work/base/checkpoints" "$work/run/checkpoints" \
  "the trainable head did not change"
listing=$("$bin" inspect "$work/run/checkpoints")
grep -q 'layer_with_weights-0/.*OPTIMIZER_SLOT' <<<"$listing" &&
  fail "the frozen layer has optimizer slots: $(grep 'layer_with_weights-0/.*OPTIMIZER_SLOT' <<<"$listing")"
grep -q 'layer_with_weights-1/kernel/.OPTIMIZER_SLOT/optimizer/m/' <<<"$listing" ||
  fail "the trainable head has no Adam slot: $listing"
"$bin" inspect "$work/run/checkpoints" --verify >/dev/null 2>&1 || fail "the checkpoint does not verify"
for format in json keras h5; do
  out="$work/export.$format"
  "$bin" export --config "$config" --data "$work/data" --run-dir "$work/run" --model-json "$work/frozen.json" \
    --format $format --output "$out" >"$out.log" 2>&1 || fail "export $format failed: $(cat "$out.log")"
  text=$( [ $format = keras ] && python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("config.json").decode())' "$out" || cat -v "$out")
  grep -q '"name":"dense","trainable":false' <<<"$text" || fail "export $format does not freeze 'dense'"
  grep -q '"name":"dense_1","trainable":true' <<<"$text" || fail "export $format does not say 'dense_1' trains"
done
[ $failures -eq 0 ] && echo "ok: frozen base byte-identical after 2 epochs, no slots, exports say trainable false"

# --- a preempted run with the frozen base resumes exactly ---
SHARDTRAIN_TEST_SIGTERM_AT_STEP=40 "$bin" train "$config" "${flags[@]}" "${frozen[@]}" \
  --run-dir "$work/pre" >"$work/pre.log" 2>&1 || fail "preempted run exited $?: $(tail -3 "$work/pre.log")"
"$bin" train "$config" "${flags[@]}" "${frozen[@]}" --run-dir "$work/pre" >>"$work/pre.log" 2>&1 ||
  fail "resumed run failed: $(tail -3 "$work/pre.log")"
grep -q "resuming from .*ckpt-40" "$work/pre.log" || fail "did not resume from ckpt-40: $(tail -5 "$work/pre.log")"
metrics() { grep '"epoch": 2,' "$1/logs/metrics.jsonl" | tail -1 | sed -E 's/, "examples_per_sec".*//'; }
[ -n "$(metrics "$work/run")" ] && [ "$(metrics "$work/run")" = "$(metrics "$work/pre")" ] ||
  fail "epoch 2 differs after resume: $(metrics "$work/run") vs $(metrics "$work/pre")"
for key in "$kernel0" "$kernel1"; do
  compare_tensor same "$key" "$work/run/checkpoints" "$work/pre/checkpoints" \
    "$key differs between the resumed and the uninterrupted run"
done
[ $failures -eq 0 ] && echo "ok: preempted at step 40 with a frozen layer, resumed, epoch 2 and weights identical"

# --- every layer frozen: InvalidArgument saying what to do ---
set_trainable "$work/model.json" "$work/all_frozen.json" false dense dense_1
out=$("$bin" train "$config" "${flags[@]}" --model-json "$work/all_frozen.json" --run-dir "$work/none" 2>&1)
status=$?
[ $status -ne 0 ] && grep -q 'InvalidArgument: .*every layer with weights is frozen' <<<"$out" ||
  fail "all frozen: expected InvalidArgument, got $status: $out"

# --- unfreeze and fine-tune from the frozen run's export with a lower learning rate ---
"$bin" train "$config" "${flags[@]}" --epochs 1 --init-from "$work/export.keras" --learning-rate 1e-5 \
  --run-dir "$work/tune" >"$work/tune.log" 2>&1 || fail "fine-tuning failed: $(tail -3 "$work/tune.log")"
grep -q "loaded weights of 2 layer(s): dense, dense_1" "$work/tune.log" || fail "fine-tuning did not load both layers"
compare_tensor differs "$kernel0" "$work/base/checkpoints" "$work/tune/checkpoints" \
  "the unfrozen base did not change in fine-tuning"
[ $failures -eq 0 ] && echo "ok: all frozen is InvalidArgument; unfrozen fine-tuning trains the base"
exit $((failures > 0))
