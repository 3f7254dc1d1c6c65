#!/usr/bin/env bash
# SavedModel export of a convolutional, residual model end to end: a small
# Conv2D / BatchNormalization / residual Add / Max+Average pooling /
# Concatenate / GlobalAveragePooling2D model trained one short epoch on
# Fashion-MNIST is exported as a SavedModel; `shardtrain evaluate
# --saved-model` (our serving runtime, fed flat 784-value rows that the graph
# reshapes to 28x28x1) gives the accuracy of `shardtrain evaluate` and its
# logits within 1e-5.
# Usage: export_conv_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without
# Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist
[ -f "$fmnist/train-labels-idx1-ubyte.gz" ] || { echo "SKIP: needs Fashion-MNIST in $fmnist"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" --num-shards 2 \
  >/dev/null || exit 1
config="$work/residual_cnn.textproto"
cat >"$config" <<'CONFIG'
model {
  input_shape: [28, 28, 1]
  input_name: "pixels"
  layers { conv2d { filters: 4 kernel_size: [3] padding: SAME activation: RELU } }
  layers { batch_normalization {} }
  layers { conv2d { filters: 4 kernel_size: [3] padding: SAME } }
  layers { name: "add" inputs: ["batch_normalization", "conv2d_1"] add {} }
  layers { max_pooling2d {} }
  layers { name: "average_pooling2d" inputs: ["add"] average_pooling2d {} }
  layers { concatenate {} inputs: ["max_pooling2d", "average_pooling2d"] }
  layers { conv2d { filters: 8 kernel_size: [3] strides: [2] activation: RELU } }
  layers { global_average_pooling2d {} }
  layers { dense { units: 10 } }
}
optimizer { adam {} }
loss { sparse_categorical_crossentropy { from_logits: true } }
metrics: "accuracy"
data { num_classes: 10 }
training { batch_size: 32 epochs: 1 seed: 3 }
CONFIG
common=(--data "$work/data" --run-dir "$work/run")
"$bin" train "$config" "${common[@]}" --train-examples 512 --verbose 0 >"$work/train.log" 2>&1 ||
  { echo "FAIL: training failed: $(tail -3 "$work/train.log")"; exit 1; }
"$bin" evaluate "$config" "${common[@]}" --test-examples 300 --json --predictions "$work/ref.npy" >"$work/ref.json" ||
  { echo "FAIL: evaluate failed"; exit 1; }
"$bin" export --config "$config" "${common[@]}" --format saved_model --output "$work/models/cnn" \
  >"$work/export.log" 2>&1 || { echo "FAIL: export: $(cat "$work/export.log")"; exit 1; }
"$bin" evaluate "$config" "${common[@]}" --test-examples 300 --saved-model "$work/models/cnn/1" --json \
  --predictions "$work/sm.npy" >"$work/sm.json" 2>"$work/sm.log" ||
  { echo "FAIL: evaluate --saved-model: $(cat "$work/sm.log")"; exit 1; }
acc() { sed -E 's/.*"accuracy": ([^,]*),.*/\1/' "$1"; }
failures=0
[ "$(acc "$work/ref.json")" = "$(acc "$work/sm.json")" ] ||
  { echo "FAIL: accuracy $(acc "$work/sm.json") vs $(acc "$work/ref.json")"; failures=1; }
out=$(/usr/bin/python3 "$src/tests/cli/compare_npy.py" "$work/ref.npy" "$work/sm.npy" 1e-5) ||
  { echo "FAIL: logits differ: $out"; failures=1; }
echo "reference $(cat "$work/ref.json"); saved model $(cat "$work/sm.json"); $out"
exit $failures
