#!/usr/bin/env bash
# binary_crossentropy and class_weight end to end: Fashion-MNIST relabelled
# 0/1 (footwear = 1; 3000 train, 1000 test) trains a one-unit sigmoid model
# with data.num_classes 2 and class_weight {1: 2} to val_loss < 0.1 with the
# binary metrics logged; a re-run with another class_weight refuses to resume
# naming the field; the .keras export declares Keras's BinaryCrossentropy;
# evaluate on the checkpoint, the SavedModel and the .keras file reports the
# run's final val_loss, val_accuracy and val_auc. A from_logits variant (linear
# head, 1 epoch) exports a SavedModel whose `probabilities` output is the
# sigmoid of its logits, as predict --probabilities computes it.
# Usage: binary_crossentropy_test.sh BUILD_BIN_DIR SOURCE_DIR; exits 77 (skip)
# without Fashion-MNIST.
set -u
bin="$1/shardtrain"
src="$2"
fmnist=/usr/share/datasets/fashion-mnist
[ -f "$fmnist/train-labels-idx1-ubyte.gz" ] || { echo "SKIP: needs Fashion-MNIST in $fmnist"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

mkdir "$work/idx"
python3 - "$fmnist" "$work/idx" <<'PY'
import gzip, struct, sys
src, out = sys.argv[1], sys.argv[2]
for split, n in (("train", 3000), ("t10k", 1000)):
    with gzip.open(f"{src}/{split}-images-idx3-ubyte.gz") as f:
        magic, _, rows, cols = struct.unpack(">IIII", f.read(16))
        images = f.read(n * rows * cols)
    with gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz") as f:
        f.read(8)
        labels = bytes(1 if b in (5, 7, 9) else 0 for b in f.read(n))  # sandal, sneaker, boot
    with gzip.open(f"{out}/{split}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", magic, n, rows, cols) + images)
    with gzip.open(f"{out}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels)
PY
"$bin" data prepare --dataset fashion_mnist --source "$work/idx" --output "$work/data" \
  --num-shards 2 >/dev/null || exit 1

write_config() {  # write_config FILE CLASS_1_WEIGHT [HEAD_ACTIVATION [BCE_FIELDS [EPOCHS]]]
  cat > "$1" <<CONFIG
model {
  input_shape: [784]
  layers { dense { units: 64 activation: RELU } }
  layers { dense { units: 1 activation: ${3:-SIGMOID} } }
}
optimizer { adam {} }
loss { binary_crossentropy { ${4:-} } }
metrics: "accuracy"
metrics: "auc"
data { dir: "$work/data" num_classes: 2 }
training { batch_size: 32 epochs: ${5:-2} seed: 1 class_weight { key: 1 value: $2 } }
CONFIG
}
write_config "$work/w2.textproto" 2
write_config "$work/w3.textproto" 3
write_config "$work/logits.textproto" 2 LINEAR "from_logits: true" 1

"$bin" train "$work/w2.textproto" --run-dir "$work/run" --verbose 2 > "$work/train.log" 2>&1 ||
  fail "training: $(tail -3 "$work/train.log")"
last=$(tail -1 "$work/run/logs/metrics.jsonl")
python3 -c 'import json, sys; m = json.loads(sys.argv[1]); sys.exit(not (m["val_loss"] < 0.1 and m["val_auc"] > 0.99))' "$last" ||
  fail "expected val_loss < 0.1 and val_auc > 0.99, got $last"

if "$bin" train "$work/w3.textproto" --run-dir "$work/run" --epochs 3 > "$work/resume.log" 2>&1; then
  fail "a changed class_weight resumed"
fi
grep -q "training.class_weight" "$work/resume.log" || fail "refusal names no field: $(tail -2 "$work/resume.log")"

"$bin" export --config "$work/w2.textproto" --checkpoint "$work/run/checkpoints" --format keras \
  --output "$work/m.keras" >/dev/null 2>&1 || fail "export"
python3 - "$work/m.keras" <<'PY' || fail "the .keras compile_config loss is not BinaryCrossentropy"
import json, sys, zipfile
loss = json.loads(zipfile.ZipFile(sys.argv[1]).read("config.json"))["compile_config"]["loss"]
sys.exit(not (loss["class_name"] == "BinaryCrossentropy" and loss["config"]["from_logits"] is False))
PY

# evaluate, from each kind of saved weights, reports the run's final val values
# (the SavedModel runs in our serving runtime: float differences only).
"$bin" export --config "$work/w2.textproto" --checkpoint "$work/run/checkpoints" \
  --format saved_model --output "$work/models/bce" >/dev/null 2>&1 || fail "saved_model export"
agrees_with_val() {  # agrees_with_val NAME METRICS_JSONL_LINE EVALUATE_JSON
  python3 - "$@" <<'PY' || fail "$1: evaluate disagrees with the run's val values"
import json, sys
name, val, got = sys.argv[1], json.loads(sys.argv[2]), json.loads(open(sys.argv[3]).read())
bad = [f"{key}: evaluate {got.get(key)} vs val_{key} {val['val_' + key]}"
       for key, tolerance in (("loss", 1e-4), ("accuracy", 1e-9), ("auc", 1e-4))
       if "val_" + key in val and not abs(got.get(key, float("inf")) - val["val_" + key]) <= tolerance]
print(f"{name}: " + ("; ".join(bad) if bad else f"loss {got['loss']:.6g} accuracy {got['accuracy']}"))
sys.exit(1 if bad else 0)
PY
}
for source in checkpoint saved_model keras; do
  case $source in
    checkpoint) flags=() ;;
    saved_model) flags=(--saved-model "$work/models/bce/1") ;;
    keras) flags=(--keras "$work/m.keras") ;;
  esac
  "$bin" evaluate "$work/w2.textproto" --run-dir "$work/run" "${flags[@]}" --json \
    > "$work/eval_$source.json" 2>&1 || fail "evaluate from $source: $(tail -2 "$work/eval_$source.json")"
  agrees_with_val "$source" "$last" "$work/eval_$source.json"
done

# from_logits: the SavedModel adds probabilities = sigmoid(logits).
"$bin" train "$work/logits.textproto" --run-dir "$work/run_logits" --verbose 0 > "$work/logits.log" 2>&1 ||
  fail "from_logits training: $(tail -3 "$work/logits.log")"
"$bin" export --config "$work/logits.textproto" --checkpoint "$work/run_logits/checkpoints" \
  --format saved_model --output "$work/models/logits" >/dev/null 2>&1 || fail "from_logits export"
"$bin" evaluate "$work/logits.textproto" --run-dir "$work/run_logits" --saved-model "$work/models/logits/1" \
  --json > "$work/eval_logits.json" 2>&1 || fail "evaluate the from_logits SavedModel"
agrees_with_val from_logits_saved_model "$(tail -1 "$work/run_logits/logs/metrics.jsonl")" "$work/eval_logits.json"
for kind in logits probabilities; do
  extra=(); [ $kind = probabilities ] && extra=(--probabilities)
  "$bin" predict --saved-model "$work/models/logits/1" --input "$work/data" --output "$work/sm_$kind.npy" \
    "${extra[@]}" > "$work/predict.log" 2>&1 || fail "predict --saved-model $kind: $(tail -2 "$work/predict.log")"
done
"$bin" predict "$work/logits.textproto" --run-dir "$work/run_logits" --input "$work/data" \
  --output "$work/ckpt_probabilities.npy" --probabilities > "$work/predict.log" 2>&1 ||
  fail "predict --probabilities from the checkpoint: $(tail -2 "$work/predict.log")"
python3 - "$src/tests/cli" "$work" <<'PY' || fail "the probabilities are not the sigmoid of the logits"
import math, sys
sys.path.insert(0, sys.argv[1])
from compare_npy import load
work = sys.argv[2]
_, _, logits = load(f"{work}/sm_logits.npy")
for name in ("sm_probabilities", "ckpt_probabilities"):
    rows, cols, probabilities = load(f"{work}/{name}.npy")
    worst = max(abs(p - 1 / (1 + math.exp(-z))) for p, z in zip(probabilities, logits))
    print(f"{name}: {rows}x{cols}, max |p - sigmoid(logit)| {worst:.3g}")
    if cols != 1 or rows != len(logits) or worst > 1e-5:
        sys.exit(1)
PY

[ "$failures" -eq 0 ] && echo "PASS: binary_crossentropy end to end" || { echo "$failures failure(s)"; exit 1; }
