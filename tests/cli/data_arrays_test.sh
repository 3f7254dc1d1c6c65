#!/usr/bin/env bash
# Bring your own arrays end to end: .npy pairs (float32, float64, uint8 and
# int64/int32/bool labels, written by hand with the Python standard library),
# an .npz archive (stored and deflated members) and a CSV file go through
# `shardtrain data prepare`; `data inspect` describes the shards; errors name
# files and rows (row mismatch, damaged .npz, missing CSV column); a model
# trains one epoch on a config that includes the written data_spec.textproto.
# Usage: data_arrays_test.sh BUILD_BIN_DIR SOURCE_DIR. Needs no dataset.
set -u
bin="$1/shardtrain"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# expect CODE REGEX -- CMD...: CMD exits CODE and its output matches REGEX.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  [ "$status" -eq "$code" ] || fail "exit $status (want $code): $* :: $(echo "$out" | tail -3)"
  echo "$out" | grep -Eq -- "$pattern" || fail "no '$pattern' in output of $*: $(echo "$out" | tail -5)"
}

python3 - "$work" <<'PY' || exit 1
import random, struct, sys, zipfile
out = sys.argv[1]
def npy(descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, "(%d,)" % shape[0] if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")")
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data
rng = random.Random(7)
def toy(n):  # 4 features; class = which of 3 centres the point is near
    xs, ys = [], []
    for _ in range(n):
        c = rng.randrange(3)
        xs += [c + rng.gauss(0, 0.2), -c + rng.gauss(0, 0.2), rng.gauss(0, 1), 1.0]
        ys.append(c)
    return xs, ys
x, y = toy(600)
xv, yv = toy(150)
open(f"{out}/x.npy", "wb").write(npy("<f4", (600, 4), struct.pack("<2400f", *x)))
open(f"{out}/y.npy", "wb").write(npy("<i8", (600,), struct.pack("<600q", *y)))
open(f"{out}/xv.npy", "wb").write(npy("<f8", (150, 4), struct.pack("<600d", *xv)))
open(f"{out}/yv.npy", "wb").write(npy("<i4", (150, 1), struct.pack("<150i", *yv)))
open(f"{out}/y_short.npy", "wb").write(npy("<i8", (599,), struct.pack("<599q", *y[:599])))
images = bytes(rng.randrange(256) for _ in range(20 * 3 * 3))
with zipfile.ZipFile(f"{out}/data.npz", "w") as z:
    z.writestr("x_train.npy", npy("|u1", (20, 3, 3), images), zipfile.ZIP_STORED)
    z.writestr("y_train.npy", npy("|b1", (20,), bytes(i % 2 for i in range(20))),
               zipfile.ZIP_DEFLATED)
raw = bytearray(open(f"{out}/data.npz", "rb").read())
raw[raw.index(images[:16]) + 5] ^= 0xFF  # a flipped byte in the stored x_train member
open(f"{out}/bad.npz", "wb").write(raw)
with open(f"{out}/data.csv", "w") as f:
    f.write("a,b,label\n" + "".join(f"{i * 0.5},{-i},{i % 3}\n" for i in range(12)))
PY

# .npy pair with validation data: shards, the fragment, and inspect's lines.
expect 0 'wrote .*/train-00001-of-00002.tfrecord \(300 examples\)' -- \
  "$bin" data prepare --features "$work/x.npy" --labels "$work/y.npy" \
  --validation-features "$work/xv.npy" --validation-labels "$work/yv.npy" \
  --output "$work/npy" --num-shards 2
grep -q 'features { key: "x" type: FLOAT_LIST shape: \[4\] }' "$work/npy/data_spec.textproto" ||
  fail "fragment: $(cat "$work/npy/data_spec.textproto")"
grep -q '^  num_classes: 3$' "$work/npy/data_spec.textproto" || fail "num_classes in the fragment"
out=$("$bin" data inspect "$work/npy/test-00001-of-00002.tfrecord" --count 2>&1) || fail "inspect: $out"
for line in "compression NONE" "^record 0: 2 features$" "^  x: float_list, 4 values \[.*\]$" \
  "^  y: int64_list, 1 value \[[0-2]\]$" "^records: 75$"; do
  echo "$out" | grep -Eq -- "$line" || fail "inspect output lacks '$line': $out"
done

# .npz: uint8 images stay bytes, bool labels are class ids; a damaged member is DataLoss.
expect 0 'wrote .*/train-00000-of-00001.tfrecord \(20 examples\)' -- \
  "$bin" data prepare --npz "$work/data.npz" --features-key x_train --labels-key y_train \
  --output "$work/npz" --num-shards 1
expect 0 '  x: bytes_list, 1 value \(9 bytes\)' -- \
  "$bin" data inspect "$work/npz/train-00000-of-00001.tfrecord" --records 2
expect 1 'DataLoss: .*bad.npz:x_train.npy.*CRC' -- \
  "$bin" data prepare --npz "$work/bad.npz" --output "$work/bad"
expect 2 "InvalidArgument: .*data.npz has no array 'x_test'; it holds: x_train, y_train" -- \
  "$bin" data prepare --npz "$work/data.npz" --features-key x_test --output "$work/bad"

# CSV with a header; a missing label column names the columns.
expect 0 'wrote .*/data_spec.textproto' -- \
  "$bin" data prepare --csv "$work/data.csv" --label-column label --output "$work/csv"
expect 0 '  x: float_list, 2 values' -- "$bin" data inspect "$work/csv/train-00000-of-00004.tfrecord"
expect 2 "data.csv:1: no column 'species' in the header \(columns: a, b, label\)" -- \
  "$bin" data prepare --csv "$work/data.csv" --label-column species --output "$work/bad"

# Row counts that differ name both files.
expect 2 'InvalidArgument: row count mismatch: .*x.npy holds 600 examples but .*y_short.npy holds 599' -- \
  "$bin" data prepare --features "$work/x.npy" --labels "$work/y_short.npy" --output "$work/bad"
expect 2 'InvalidArgument: --validation-features and --validation-labels go together' -- \
  "$bin" data prepare --features "$work/x.npy" --labels "$work/y.npy" \
  --validation-features "$work/xv.npy" --output "$work/bad"

# Every flag of another input format is refused by name, never ignored.
expect 2 'InvalidArgument: --validation-csv does not apply to --features' -- \
  "$bin" data prepare --features "$work/x.npy" --labels "$work/y.npy" \
  --validation-csv "$work/data.csv" --output "$work/bad"
expect 2 'InvalidArgument: --validation-csv does not apply to --npz' -- \
  "$bin" data prepare --npz "$work/data.npz" --validation-csv "$work/data.csv" --output "$work/bad"
expect 2 'InvalidArgument: --validation-labels does not apply to --csv' -- \
  "$bin" data prepare --csv "$work/data.csv" --label-column label \
  --validation-labels "$work/yv.npy" --output "$work/bad"
expect 2 'InvalidArgument: --validation-features-key does not apply to --csv' -- \
  "$bin" data prepare --csv "$work/data.csv" --label-column label \
  --validation-features-key x_test --output "$work/bad"
expect 2 'InvalidArgument: --validation-labels-key does not apply to --features' -- \
  "$bin" data prepare --features "$work/x.npy" --labels "$work/y.npy" \
  --validation-labels-key y_test --output "$work/bad"
expect 2 'InvalidArgument: --source does not apply to --npz' -- \
  "$bin" data prepare --npz "$work/data.npz" --source /tmp --output "$work/bad"
expect 2 'InvalidArgument: --scale does not apply to --dataset' -- \
  "$bin" data prepare --dataset fashion_mnist --scale 0.5 --output "$work/bad"

# `data inspect` refuses a FIFO at once instead of blocking on it.
mkfifo "$work/pipe.tfrecord"
expect 2 'InvalidArgument: .*pipe.tfrecord' -- timeout 10 "$bin" data inspect "$work/pipe.tfrecord"

# Train one epoch on a config that includes the fragment as written.
{
  cat <<'CONFIG'
model {
  input_shape: [4]
  layers { dense { units: 16 activation: RELU } }
  layers { dense { units: 3 } }
}
optimizer { learning_rate: 0.01 adam {} }
loss { sparse_categorical_crossentropy { from_logits: true } }
metrics: "accuracy"
training { batch_size: 32 epochs: 1 seed: 1 }
CONFIG
  cat "$work/npy/data_spec.textproto"
} > "$work/job.textproto"
"$bin" train "$work/job.textproto" --run-dir "$work/run" > "$work/train.log" 2>&1 ||
  fail "training on the fragment: $(tail -3 "$work/train.log")"
grep -q '"val_accuracy"' "$work/run/logs/metrics.jsonl" 2>/dev/null ||
  fail "no val_accuracy logged: $(tail -3 "$work/train.log")"

# The .npz fragment (uint8 images scaled by --scale, no validation data: train_files) trains too.
expect 0 'features \{ key: "x" type: BYTES_UINT8 shape: \[3, 3\] scale: 0.0039215' -- \
  "$bin" data prepare --npz "$work/data.npz" --scale 0.00392156862 --output "$work/npz2" --num-shards 2
grep -q 'train_files: ".*/npz2/train-\*-of-00002.tfrecord"' "$work/npz2/data_spec.textproto" ||
  fail "no train_files in $(cat "$work/npz2/data_spec.textproto")"
{
  cat <<'CONFIG'
model { input_shape: [3, 3] layers { flatten {} } layers { dense { units: 2 } } }
optimizer { adam {} }
loss { sparse_categorical_crossentropy { from_logits: true } }
training { batch_size: 8 epochs: 1 seed: 1 }
CONFIG
  cat "$work/npz2/data_spec.textproto"
} > "$work/images.textproto"
"$bin" train "$work/images.textproto" --run-dir "$work/run2" > "$work/train2.log" 2>&1 ||
  fail "training on the .npz fragment: $(tail -3 "$work/train2.log")"
grep -q '20 training examples' "$work/train2.log" || fail "20 examples: $(head -3 "$work/train2.log")"

[ "$failures" -eq 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
