#!/usr/bin/env bash
# `shardtrain predict` end to end (issue 25 point 7): for the same model,
# predict's outputs equal `evaluate --predictions` on the first N test
# examples, for every input kind (unlabeled TFRecord shards, labelled shards,
# uint8 .npy, float32 .npy, CSV with a header) and every model source
# (checkpoint, .keras file, SavedModel); CSV output reads back the same floats;
# --batch-size and --probabilities; bad inputs are named with file, shapes and
# line; a CONFIG's feature scale applies to .npy values (an unscaled job), and
# a spec of two features refuses a .npy. Usage: predict_test.sh BUILD_BIN_DIR SOURCE_DIR (exits 77 without Fashion-MNIST).
set -u
. "$(dirname "$0")/../fashion_job_test_env.sh" "$@"
helper() { /usr/bin/python3 "$src/tests/cli/predict_inputs.py" "$@"; }
compare() { /usr/bin/python3 "$src/tests/cli/compare_npy.py" "$@"; }
config="$src/configs/fashion_mlp.textproto"
common=(--data "$work/data" --run-dir "$work/run")
n=300

"$bin" train "$config" "${common[@]}" --epochs 1 --train-examples 1000 --verbose 0 \
  >"$work/train.log" 2>&1 || { echo "FAIL: training failed: $(tail -3 "$work/train.log")"; exit 1; }
"$bin" evaluate "$config" "${common[@]}" --test-examples $n --predictions "$work/ref.npy" \
  --json >/dev/null || { echo "FAIL: evaluate failed"; exit 1; }
"$bin" export --config "$config" "${common[@]}" --format saved_model --output "$work/models/m" \
  >/dev/null || { echo "FAIL: saved_model export failed"; exit 1; }
"$bin" export --config "$config" "${common[@]}" --format keras --output "$work/m.keras" \
  >/dev/null || { echo "FAIL: keras export failed"; exit 1; }
"$bin" evaluate "$config" "${common[@]}" --test-examples $n --saved-model "$work/models/m/1" \
  --predictions "$work/ref_sm.npy" --json >/dev/null || { echo "FAIL: evaluate --saved-model failed"; exit 1; }
helper inputs "$fmnist/t10k-images-idx3-ubyte.gz" $n "$work/in" || { echo "FAIL: no inputs"; exit 1; }

expect_same() {  # NAME REFERENCE OUTPUT TOLERANCE
  local out
  out=$(compare "$2" "$3" "$4") && echo "ok: $1: $out" || fail "$1: $out"
}
run_predict() {  # NAME ARGS...: predict into $work/out.npy
  local name=$1
  shift
  rm -f "$work/out.npy"
  "$bin" predict "$@" --output "$work/out.npy" >"$work/predict.log" 2>&1 ||
    { fail "$name: predict failed: $(cat "$work/predict.log")"; return 1; }
}

# Every input kind with every model source, against evaluate --predictions.
for input in "$work/in/unlabeled" "$work/data --max-examples $n" "$work/in/u8.npy" \
  "$work/in/f32.npy" "$work/in/x.csv"; do
  kind=$(basename "${input%% *}")
  # shellcheck disable=SC2086  # $input carries --max-examples for the labelled shards
  run_predict "$kind checkpoint" "$config" --run-dir "$work/run" --input $input &&
    expect_same "$kind, checkpoint" "$work/ref.npy" "$work/out.npy" 0
  # shellcheck disable=SC2086
  run_predict "$kind keras" "$config" --keras "$work/m.keras" --input $input &&
    expect_same "$kind, .keras" "$work/ref.npy" "$work/out.npy" 0
  # shellcheck disable=SC2086
  run_predict "$kind saved_model" --saved-model "$work/models/m/1" --input $input &&
    expect_same "$kind, SavedModel" "$work/ref_sm.npy" "$work/out.npy" 0 &&
    expect_same "$kind, SavedModel vs checkpoint" "$work/ref.npy" "$work/out.npy" 1e-5
done
"$bin" evaluate "$config" --data "$work/in/unlabeled" --run-dir "$work/run" >/dev/null 2>&1 &&
  fail "evaluate accepted shards without labels"

# Explicit checkpoint directory, small batches, CSV output.
run_predict "batch 7" "$config" --checkpoint "$work/run/checkpoints" --input "$work/in/u8.npy" \
  --batch-size 7 && expect_same "--batch-size 7" "$work/ref.npy" "$work/out.npy" 1e-5
"$bin" predict "$config" --run-dir "$work/run" --input "$work/in/x.csv" --output "$work/out.csv" \
  >/dev/null || fail "CSV output failed"
helper csv2npy "$work/out.csv" "$work/csv.npy" && expect_same "CSV output" "$work/ref.npy" "$work/csv.npy" 0

# --probabilities: softmax of the logits, the same from a checkpoint and the SavedModel.
run_predict "probabilities" "$config" --run-dir "$work/run" --input "$work/in/f32.npy" --probabilities &&
  { helper probabilities "$work/out.npy" || fail "checkpoint probabilities do not sum to 1"; } &&
  cp "$work/out.npy" "$work/probs.npy"
run_predict "SavedModel probabilities" --saved-model "$work/models/m/1" --input "$work/in/f32.npy" \
  --probabilities && expect_same "probabilities, SavedModel vs checkpoint" "$work/probs.npy" "$work/out.npy" 1e-6

expect_error() {  # NAME EXIT_CODE NEEDLE ARGS...: predict fails with this code and message
  local name=$1 code=$2 needle=$3 rc
  shift 3
  "$bin" predict "$@" >"$work/err.log" 2>&1
  rc=$?
  [ $rc -eq "$code" ] && grep -qF -- "$needle" "$work/err.log" &&
    echo "ok: $name: $(tail -1 "$work/err.log")" ||
    fail "$name: exit $rc (want $code), '$needle' not in: $(cat "$work/err.log")"
}
printf '1,2,3\n4,5,6\n' >"$work/small.csv"
expect_error "wrong feature count" 2 "small.csv: examples of shape (2, 3) (3 values each), but the model takes (N, 784)" \
  "$config" --run-dir "$work/run" --input "$work/small.csv" --output "$work/e.npy"
printf '1,2,3\n4,5,6\n7,x,9\n' >"$work/bad.csv"
expect_error "malformed CSV" 2 "bad.csv:3: value 2 'x' is not a number" \
  "$config" --run-dir "$work/run" --input "$work/bad.csv" --output "$work/e.npy"
head -c 5000 "$work/in/f32.npy" >"$work/cut.npy"
expect_error "truncated npy" 1 "cut.npy: shape (300, 784) needs 940800 bytes of data, the file holds 4872; row 1 (0-based) is incomplete" \
  "$config" --run-dir "$work/run" --input "$work/cut.npy" --output "$work/e.npy"
expect_error "SavedModel wrong shape" 2 "small.csv: examples of shape (2, 3) (3 values each), but the model takes (N, 784)" \
  --saved-model "$work/models/m/1" --input "$work/small.csv" --output "$work/e.npy"
expect_error "output kind" 2 "name a .npy or .csv file" \
  "$config" --run-dir "$work/run" --input "$work/small.csv" --output "$work/e.txt"

# With a CONFIG, .npy values get the job's feature scale: a job whose uint8
# feature has no scale sees 0..255 (predict equals evaluate on its TFRecords
# with that config); a spec of two features cannot come from one array.
add_features() {  # CONFIG_OUT FEATURE...: fashion_mlp with these data.features
  local out=$1 line
  shift
  line=$(printf '\\n  features { %s }' "$@")
  sed "s/^  num_classes: 10\$/&$line/" "$config" >"$out"
}
add_features "$work/unscaled.textproto" 'key: "image" type: BYTES_UINT8 shape: [784]'
"$bin" evaluate "$work/unscaled.textproto" "${common[@]}" --test-examples $n \
  --predictions "$work/ref_raw.npy" --json >/dev/null || fail "evaluate of the unscaled job failed"
compare "$work/ref.npy" "$work/ref_raw.npy" 0 >/dev/null && fail "unscaled job: outputs as if scaled"
run_predict "unscaled job" "$work/unscaled.textproto" --run-dir "$work/run" \
  --input "$work/in/u8.npy" && expect_same "unscaled job, uint8 .npy" "$work/ref_raw.npy" "$work/out.npy" 0
add_features "$work/two.textproto" 'key: "a" type: BYTES_UINT8 shape: [392]' \
  'key: "b" type: BYTES_UINT8 shape: [392]'
expect_error "two features from a .npy" 2 "not one numeric feature, so a .npy or .csv cannot be fed" \
  "$work/two.textproto" --run-dir "$work/run" --input "$work/in/u8.npy" --output "$work/e.npy"
[ -e "$work/e.npy" ] && fail "a failed predict wrote an output file"

[ $failures -eq 0 ] && echo "predict: all checks passed" || echo "predict: $failures check(s) failed"
[ $failures -eq 0 ]
