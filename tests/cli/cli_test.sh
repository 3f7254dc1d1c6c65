#!/usr/bin/env bash
# End-to-end checks of the `shardtrain` binary: bad input gets a clear error
# and the right exit code, a short real training run writes metrics.jsonl,
# and the same seed twice gives bitwise-identical losses.
# Usage: cli_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without Fashion-MNIST.
set -u
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN -- command...: runs it, checks exit code and that stderr+stdout match PATTERN.
expect() {
  local code=$1 pattern=$2; shift 3
  local out status
  out=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$code" ]; then fail "'$*' exited $status, expected $code: $out"; return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then fail "'$*' output lacks /$pattern/: $out"; return; fi
  echo "ok: $* -> exit $status"
}

config="$src/configs/fashion_mlp.textproto"
expect 0 '--train-examples N' -- "$bin" train --help
expect 0 'data prepare' -- "$bin" --help
expect 2 'unknown command' -- "$bin" frobnicate
expect 2 'InvalidArgument: .*unknown flag --bogus' -- "$bin" train "$config" --bogus 1
expect 2 'InvalidArgument: .*--epochs expects an integer' -- "$bin" train "$config" --epochs ten
expect 2 'InvalidArgument: expected exactly one CONFIG' -- "$bin" train
expect 1 "NotFound: cannot read the config file '$work/none.textproto'" -- "$bin" train "$work/none.textproto"

printf 'name: "x"\nmodel {\n  input_shape: [784]\n  layers { dense { unitz: 3 } }\n}\n' > "$work/bad.textproto"
expect 2 "InvalidArgument: .*bad.textproto:4:[0-9]+: .*unitz" -- "$bin" train "$work/bad.textproto"
expect 2 'InvalidArgument: .*training.batch_size must be positive' -- "$bin" train "$config" --batch-size 0
expect 1 "NotFound: .*(no .*train.* shards|shardtrain data prepare)" -- "$bin" train "$config" --data "$work/empty" --run-dir "$work/run"
expect 1 "PermissionDenied: cannot create the run directory '/etc/passwd/run/logs'" -- "$bin" train "$config" --run-dir /etc/passwd/run
expect 2 'InvalidArgument: --dataset must be fashion_mnist' -- "$bin" data prepare --dataset cifar --output "$work/x"

if [ ! -f "$fmnist/train-labels-idx1-ubyte.gz" ]; then
  echo "SKIP: the rest needs Fashion-MNIST (Debian package dataset-fashion-mnist) in $fmnist"
  [ $failures -eq 0 ] && exit 77 || exit 1
fi

expect 0 'wrote .*test-00001-of-00002.tfrecord' -- "$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" --num-shards 2
# No device here, or no CUDA in this build (where a GPU is visible, --device cuda trains).
if [ ! -e /dev/nvidia0 ]; then
  expect 1 '(FailedPrecondition: no CUDA device visible|Unimplemented: built without CUDA).*; use --device cpu' -- "$bin" train "$config" --data "$work/data" --run-dir "$work/run" --device cuda
fi

run() {
  "$bin" train "$config" --data "$work/data" --run-dir "$work/$1" --epochs 2 --train-examples 512 --seed 3 --verbose 2
}
expect 0 'test accuracy: 0\.[0-9]+' -- run a
expect 0 'Epoch 2/2' -- run b
lines=$(wc -l < "$work/a/logs/metrics.jsonl")
[ "$lines" -eq 2 ] || fail "metrics.jsonl has $lines lines, expected 2"
for key in epoch step loss accuracy val_loss val_accuracy examples_per_sec wall_seconds; do
  grep -q "\"$key\": " "$work/a/logs/metrics.jsonl" || fail "metrics.jsonl lacks $key"
done
grep -q '"epoch": 2, "step": 32,' "$work/a/logs/metrics.jsonl" || fail "epoch 2 should end at step 32"
losses() { sed -E 's/.*"loss": ([^,]*),.*"val_loss": ([^,]*),.*/\1 \2/' "$1"; }
if [ "$(losses "$work/a/logs/metrics.jsonl")" != "$(losses "$work/b/logs/metrics.jsonl")" ]; then
  fail "same seed, different losses: $(losses "$work/a/logs/metrics.jsonl") vs $(losses "$work/b/logs/metrics.jsonl")"
else
  echo "ok: same seed twice -> identical losses $(losses "$work/a/logs/metrics.jsonl" | tr '\n' ' ')"
fi

# A corrupted shard is a DataLoss naming the file and the record.
cp -r "$work/data" "$work/corrupt"
printf '\xff' | dd of="$work/corrupt/train-00000-of-00002.tfrecord" bs=1 seek=5000 conv=notrunc status=none
expect 1 "DataLoss: .*record [0-9]+ at byte offset [0-9]+ in '.*train-00000-of-00002.tfrecord'" -- "$bin" train "$config" --data "$work/corrupt" --run-dir "$work/c"
cp "$work/data/train-00000-of-00002.tfrecord" "$work/corrupt/"
truncate -s -100 "$work/corrupt/train-00001-of-00002.tfrecord"
expect 1 "DataLoss: truncated record .*train-00001-of-00002.tfrecord" -- "$bin" train "$config" --data "$work/corrupt" --run-dir "$work/c"

[ $failures -eq 0 ] && echo "cli: all checks passed" && exit 0
echo "cli: $failures check(s) failed"; exit 1
