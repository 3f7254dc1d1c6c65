#!/usr/bin/env bash
# Exports end to end (issue 6 acceptance): the reference model trained 2
# epochs is exported as a SavedModel, .keras, legacy .h5 and .weights.h5; the
# SavedModel run by our serving runtime and each Keras file imported back
# predict what `shardtrain evaluate` predicts on the full test split
# (accuracy equal, logits within 1e-5); export → import → export gives
# byte-identical weights; versions are numbered and never overwritten; a
# Keras JSON + HDF5 weights model trains; bad requests are named.
# Usage: export_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without
# Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist
[ -f "$fmnist/train-labels-idx1-ubyte.gz" ] || { echo "SKIP: needs Fashion-MNIST in $fmnist"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
compare() { /usr/bin/python3 "$src/tests/cli/compare_npy.py" "$@"; }
"$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" --num-shards 2 >/dev/null || exit 1
config="$src/configs/fashion_mlp.textproto"
common=(--data "$work/data" --run-dir "$work/run")

"$bin" train "$config" "${common[@]}" --epochs 2 --verbose 0 >"$work/train.log" 2>&1 ||
  { echo "FAIL: training failed: $(tail -3 "$work/train.log")"; exit 1; }
"$bin" evaluate "$config" "${common[@]}" --json --predictions "$work/ref.npy" >"$work/ref.json" ||
  { echo "FAIL: evaluate failed"; exit 1; }
ref_acc=$(sed -E 's/.*"accuracy": ([^,]*),.*/\1/' "$work/ref.json")
echo "reference: $(cat "$work/ref.json")"

check() {  # NAME JSON NPY: accuracy equal to 0.001 and logits within 1e-5 of the reference
  local acc
  acc=$(sed -E 's/.*"accuracy": ([^,]*),.*/\1/' "$2")
  awk -v a="$acc" -v b="$ref_acc" 'BEGIN { d = a - b; exit !(d <= 0.001 && d >= -0.001) }' ||
    fail "$1: accuracy $acc vs $ref_acc"
  out=$(compare "$work/ref.npy" "$3" 1e-5) || fail "$1: logits differ: $out"
  echo "ok: $1: accuracy $acc; $out"
}

# SavedModel: exported atomically into the next version, run by our runtime.
"$bin" export --config "$config" "${common[@]}" --format saved_model --output "$work/models/mlp" \
  >"$work/sm.log" 2>&1 || fail "saved_model export: $(cat "$work/sm.log")"
[ -f "$work/models/mlp/1/saved_model.pb" ] && [ -f "$work/models/mlp/1/variables/variables.index" ] ||
  fail "no version 1: $(ls -R "$work/models")"
ls -a "$work/models/mlp" | grep -q '^\.tmp' && fail "a temporary directory was left behind"
"$bin" evaluate "$config" "${common[@]}" --saved-model "$work/models/mlp/1" --json \
  --predictions "$work/sm.npy" >"$work/sm.json" || fail "evaluate --saved-model failed"
check saved_model "$work/sm.json" "$work/sm.npy"
"$bin" export --config "$config" "${common[@]}" --format saved_model --output "$work/models/mlp" >/dev/null &&
  [ -d "$work/models/mlp/2" ] || fail "second export is not version 2"
"$bin" export --config "$config" "${common[@]}" --format saved_model --output "$work/models/mlp" --version 2 \
  >"$work/dup.log" 2>&1 && fail "overwrote version 2"
grep -q "AlreadyExists: .*already exists" "$work/dup.log" || fail "no 'already exists' error: $(cat "$work/dup.log")"

# Keras files, imported back by layer name.
for format in keras h5 weights_h5; do
  file="$work/model.$format"
  "$bin" export --config "$config" "${common[@]}" --format "$format" --output "$file" >/dev/null ||
    { fail "export --format $format failed"; continue; }
  "$bin" evaluate "$config" "${common[@]}" --keras "$file" --json --predictions "$work/$format.npy" \
    >"$work/$format.json" || { fail "evaluate --keras $file failed"; continue; }
  check "$format" "$work/$format.json" "$work/$format.npy"
done
"$bin" export --config "$config" "${common[@]}" --format json --output "$work/model.json" >/dev/null ||
  fail "export --format json failed"

# export → import → export: byte-identical weights (compared in the SavedModel bundles).
"$bin" export --config "$config" "${common[@]}" --init-from "$work/model.keras" --format saved_model \
  --output "$work/models/from_keras" >/dev/null || fail "export from the .keras import failed"
"$bin" export --config "$config" "${common[@]}" --init-from "$work/model.h5" --format keras \
  --output "$work/again.keras" >/dev/null || fail "re-export of the .h5 import failed"
"$bin" export --config "$config" "${common[@]}" --init-from "$work/again.keras" --format saved_model \
  --output "$work/models/again" >/dev/null || fail "export from the re-exported .keras failed"
roundtrip_ok=1
for dir in from_keras again; do
  cmp -s "$work/models/mlp/1/variables/variables.data-00000-of-00001" \
    "$work/models/$dir/1/variables/variables.data-00000-of-00001" ||
    { fail "weights after export → import → export ($dir) are not byte-identical"; roundtrip_ok=0; }
done
[ $roundtrip_ok -eq 1 ] && echo "ok: export → import → export keeps the weights byte for byte"

# A model brought from Keras: architecture from JSON, weights from HDF5, trained by us.
"$bin" train "$config" --data "$work/data" --run-dir "$work/imported" --model-json "$work/model.json" \
  --init-from "$work/model.h5" --epochs 1 --train-examples 2000 --verbose 0 >"$work/imported.log" 2>&1 ||
  fail "training a Keras import failed: $(tail -3 "$work/imported.log")"
grep -q "loaded weights of 2 layer(s): dense, dense_1" "$work/imported.log" ||
  fail "no load report: $(head -5 "$work/imported.log")"

# Bad requests.
"$bin" export --config "$config" "${common[@]}" --format onnx --output "$work/x" >"$work/bad.log" 2>&1
[ $? -eq 2 ] && grep -q "InvalidArgument: --format must be saved_model, keras, h5, weights_h5 or json" "$work/bad.log" ||
  fail "unknown format: $(cat "$work/bad.log")"
printf 'junk' >"$work/junk.keras"
"$bin" evaluate "$config" "${common[@]}" --keras "$work/junk.keras" >"$work/junk.log" 2>&1 &&
  fail "a junk .keras file was accepted"
grep -q "InvalidArgument: .*junk.keras" "$work/junk.log" || fail "the junk file is not named: $(cat "$work/junk.log")"

[ $failures -eq 0 ] && echo "export: all checks passed" && exit 0
echo "export: $failures check(s) failed"; exit 1
