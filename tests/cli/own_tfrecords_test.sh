#!/usr/bin/env bash
# Training on one's own TFRecords (README "Training on your own TFRecords"): a small
# GZIP-compressed set in a schema of its own (own_tfrecords.py: float_list features x
# and aux, int64 class id cls, float one-hot onehot) trains 1 epoch without
# validation_files (no val_* logs, no final test line; evaluate and val_ monitors are
# refused), then with validation_files (evaluate scores them), and on VECTOR labels.
# With Fashion-MNIST present, configs/fashion_mlp_tfrecords.textproto (the explicit
# spec) trains to the same losses as configs/fashion_mlp.textproto (the default).
# Usage: own_tfrecords_test.sh BUILD_BIN_DIR SOURCE_DIR
set -u
bin="$1/shardtrain"
src="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

mkdir -p "$work/records"
python3 "$src/tests/cli/own_tfrecords.py" "$work/records" train 3 60 1 --gzip || exit 1
python3 "$src/tests/cli/own_tfrecords.py" "$work/records" val 1 50 2 --gzip || exit 1

# job NAME LABEL LOSS [EXTRA]: a config training on the set, without validation files.
job() {
  cat > "$work/$1.textproto" <<EOF
name: "$1"
model { input_shape: [6] layers { dense { units: 16 activation: RELU } } layers { dense { units: 3 } } }
optimizer { adam { } learning_rate: 0.01 }
loss { $3 }
metrics: "accuracy"
data {
  train_files: "$work/records/train-*.tfrecord.gz"
  compression: GZIP
  num_classes: 3
  features { key: "x" type: FLOAT_LIST shape: [4] }
  features { key: "aux" type: FLOAT_LIST shape: [2] scale: 0.5 }
  label { $2 }
  ${4:-}
}
training { batch_size: 16 epochs: 1 seed: 3 run_dir: "$work/$1-run" }
EOF
}

# 1. No validation data: trains, logs no val_*, says there is no test data.
job plain 'key: "cls"' 'sparse_categorical_crossentropy { from_logits: true }'
out=$("$bin" train "$work/plain.textproto" --verbose 2 2>&1) || fail "train without validation: $out"
grep -q "180 training examples" <<<"$out" || fail "expected 180 training examples: $out"
grep -q "val_" <<<"$out" && fail "val_ logs without validation data: $out"
grep -q "no test data" <<<"$out" || fail "expected the no-test-data line: $out"
grep -q "test accuracy" <<<"$out" && fail "a test accuracy line without test data: $out"
grep -q '"loss"' "$work/plain-run/logs/metrics.jsonl" || fail "no loss in metrics.jsonl"
grep -q "val_" "$work/plain-run/logs/metrics.jsonl" && fail "val_ in metrics.jsonl"
out=$("$bin" evaluate "$work/plain.textproto" 2>&1) && fail "evaluate without validation files: $out"
grep -q "no validation files" <<<"$out" || fail "evaluate's error should say why: $out"
sed 's|^training {|callbacks { early_stopping { monitor: "val_loss" } }\ntraining {|' \
  "$work/plain.textproto" > "$work/monitor.textproto"
out=$("$bin" train "$work/monitor.textproto" 2>&1) && fail "a val_ monitor without validation data trained"
grep -q "monitor 'val_loss' needs validation data" <<<"$out" || fail "val_ monitor error: $out"
sed "s|train-\*|nothing-*|" "$work/plain.textproto" > "$work/nomatch.textproto"
out=$("$bin" train "$work/nomatch.textproto" 2>&1) && fail "a pattern without match trained"
grep -q "data.train_files\[0\] '$work/records/nothing-\*.tfrecord.gz' matches no file" <<<"$out" ||
  fail "no-match error: $out"

# 2. With validation files: val_* logs, and evaluate scores the validation files.
job withval 'key: "cls"' 'sparse_categorical_crossentropy { from_logits: true }' \
  "validation_files: \"$work/records/val-*.tfrecord.gz\""
out=$("$bin" train "$work/withval.textproto" --verbose 2 2>&1) || fail "train with validation: $out"
grep -q "50 validation examples" <<<"$out" || fail "expected 50 validation examples: $out"
final=$(grep "test accuracy" <<<"$out" | sed 's/  (.*//')
evaluated=$("$bin" evaluate "$work/withval.textproto" 2>&1 | sed 's/  (.*//')
[ -n "$final" ] && [ "$final" = "$evaluated" ] || fail "evaluate '$evaluated' != train's '$final'"

# 3. VECTOR labels (one-hot targets) with categorical cross-entropy.
job vector 'key: "onehot" kind: VECTOR size: 3' 'categorical_crossentropy { from_logits: true }'
out=$("$bin" train "$work/vector.textproto" --verbose 2 2>&1) || fail "train on VECTOR labels: $out"
grep -q "Epoch 1/1" <<<"$out" || fail "VECTOR run logged no epoch: $out"

# 3b. Regression (mean squared error on the vectors, no metrics): train's final line and
# evaluate report the loss and no accuracy, as Keras's evaluate returns the loss alone.
job regress 'key: "onehot" kind: VECTOR size: 3' 'mean_squared_error { }' \
  "validation_files: \"$work/records/val-*.tfrecord.gz\""
sed -i '/^metrics: "accuracy"$/d' "$work/regress.textproto"
out=$("$bin" train "$work/regress.textproto" --verbose 2 2>&1) || fail "regression train: $out"
grep -q "^test loss: " <<<"$out" || fail "regression: no final test loss line: $out"
grep -q "accuracy" <<<"$out" && fail "regression reports an accuracy: $out"
out=$("$bin" evaluate "$work/regress.textproto" --json 2>&1) || fail "regression evaluate: $out"
grep -q '^{"loss": [0-9.e-]*, "examples": 50}$' <<<"$out" || fail "regression evaluate --json: $out"

# 4. The explicit spec of the Fashion-MNIST config trains as the default one does.
fmnist=/usr/share/datasets/fashion-mnist
if [ -f "$fmnist/train-labels-idx1-ubyte.gz" ]; then
  "$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/fashion" \
    --num-shards 2 > /dev/null || exit 1
  sed "s|data/fashion_mnist/|$work/fashion/|" "$src/configs/fashion_mlp_tfrecords.textproto" \
    > "$work/explicit.textproto"
  flags=(--epochs 1 --train-examples 2000 --test-examples 500 --verbose 0)
  "$bin" train "$src/configs/fashion_mlp.textproto" --data "$work/fashion" "${flags[@]}" \
    --run-dir "$work/default-run" > /dev/null || fail "default Fashion-MNIST config"
  "$bin" train "$work/explicit.textproto" "${flags[@]}" --run-dir "$work/explicit-run" \
    > /dev/null || fail "explicit Fashion-MNIST config"
  losses() { grep -o '"\(val_\)\?\(loss\|accuracy\)": [^,]*' "$1/logs/metrics.jsonl"; }
  [ -n "$(losses "$work/default-run")" ] &&
    [ "$(losses "$work/default-run")" = "$(losses "$work/explicit-run")" ] ||
    fail "explicit spec losses differ: $(losses "$work/default-run") vs $(losses "$work/explicit-run")"
else
  echo "note: Fashion-MNIST absent; the explicit-spec comparison was skipped"
fi

[ "$failures" -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
