#!/usr/bin/env bash
# Streamed training data end to end (issue 22 points 2-3): a 2-rank job on
# one's own TFRecords (own_tfrecords.py: 4 files of 150 examples, cut into
# shards of 32 records) is preempted by SIGTERM mid-epoch and re-run with the
# same command: its final checkpoint's .index and .data files are
# byte-identical to an uninterrupted 2-rank run's. The same checkpoint resumed
# on 3 ranks completes and its interrupted epoch trains every example once (600
# examples). A record damaged mid-file stops the job with an error naming the
# file and the record. training.validation_split streams the first examples and
# validates on the last ones. Through a standalone coordinator (whose config
# says 2 epochs) the finished job trains a third epoch with --epochs 3, and
# ranks whose --seed or --train-examples differs from the coordinator's refuse
# its plan by name.
# Usage: stream_resume_test.sh BUILD_BIN_DIR SOURCE_DIR
set -u
bin="$1/shardtrain"
src="$2"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'pkill -KILL -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

mkdir -p "$work/records"
python3 "$src/tests/cli/own_tfrecords.py" "$work/records" train 4 150 1 || exit 1
python3 "$src/tests/cli/own_tfrecords.py" "$work/records" val 1 100 2 || exit 1

# config RECORDS_DIR [EXTRA_DATA]: the job, streaming (the default) from RECORDS_DIR.
config() {
  cat <<EOF
name: "stream"
model { input_shape: [6] layers { dense { units: 16 activation: RELU } } layers { dense { units: 3 } } }
optimizer { adam { } learning_rate: 0.01 }
loss { sparse_categorical_crossentropy { from_logits: true } }
metrics: "accuracy"
data {
  train_files: "$1/train-*.tfrecord"
  validation_files: "$1/val-*.tfrecord"
  num_classes: 3
  features { key: "x" type: FLOAT_LIST shape: [4] }
  features { key: "aux" type: FLOAT_LIST shape: [2] }
  label { key: "cls" }
  shard_records: 32
  shuffle_buffer: 64
  ${2:-}
}
training { batch_size: 16 epochs: 2 seed: 3 }
EOF
}
config "$work/records" > "$work/stream.textproto"
flags=(--save-freq 10 --verbose 2)
# train NPROC RUN_DIR [CONFIG]: one run, output appended to RUN_DIR.log.
train() {
  local np=$1 dir=$2 cfg=${3:-$work/stream.textproto}
  timeout 60 mpirun -np "$np" --oversubscribe "$bin" train "$cfg" "${flags[@]}" --run-dir "$dir" \
    >>"$dir.log" 2>&1
}
latest() { sed -n 's/^model_checkpoint_path: "\(.*\)"/\1/p' "$1/checkpoints/checkpoint"; }
field() {
  grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | tail -1 | sed -E "s/.*\"$3\": ([^,}]*).*/\1/"
}

# --- 2 ranks, preempted at step 48 (epoch 2), resumed on 2 ranks: same final checkpoint bytes ---
# Both runs use the same run directory, since the checkpoint stores the config with it.
ref="$work/ref" run="$work/run"
train 2 "$run" || fail "uninterrupted 2-rank run failed: $(tail -3 "$run.log")"
mv "$run" "$ref" && mv "$run.log" "$ref.log"
grep -q "600 training examples" "$ref.log" || fail "expected 600 training examples: $(head -5 "$ref.log")"
SHARDTRAIN_TEST_SIGTERM_AT_STEP=48 train 2 "$run"
grep -q "preempted (SIGTERM): saved .*ckpt-48" "$run.log" || fail "not preempted: $(tail -3 "$run.log")"
cp -r "$run" "$work/saved"
train 2 "$run" || fail "resumed 2-rank run failed: $(tail -3 "$run.log")"
grep -q "resuming from .*ckpt-48 (epoch 2, step 48, " "$run.log" ||
  fail "did not resume from ckpt-48: $(grep -E "resuming|error" "$run.log")"
last=$(latest "$ref")
[ -n "$last" ] && [ "$last" = "$(latest "$run")" ] || fail "latest checkpoints '$last' vs '$(latest "$run")'"
for f in "$ref/checkpoints/$last".*; do
  cmp -s "$f" "$run/checkpoints/$(basename "$f")" || fail "$(basename "$f") differs after resume"
done
[ "$(field "$ref" 2 val_loss)" = "$(field "$run" 2 val_loss)" ] ||
  fail "epoch 2 val_loss $(field "$run" 2 val_loss) after resume, $(field "$ref" 2 val_loss) uninterrupted"
[ $failures -eq 0 ] && echo "ok: 2 ranks preempted at step 48 and resumed: $last bitwise identical"

# --- the same checkpoint resumed on 3 ranks: the interrupted epoch trains every example once ---
mv "$work/saved" "$work/three"
train 3 "$work/three" || fail "resume on 3 ranks failed: $(tail -3 "$work/three.log")"
grep -q "resuming from .*ckpt-48" "$work/three.log" || fail "3 ranks did not resume from ckpt-48"
[ "$(field "$work/three" 2 examples)" = 600 ] ||
  fail "2 -> 3 ranks: epoch 2 trained $(field "$work/three" 2 examples) examples, expected 600 (each once)"
[ $failures -eq 0 ] && echo "ok: resumed 2 -> 3 ranks: 600 examples in the interrupted epoch"

# --- a damaged record mid-file: an error naming the file and the record, non-zero exit ---
cp -r "$work/records" "$work/damaged"
# Record 70 of train-1 starts at byte 70 * size (all records of a file have one size).
size=$(( $(stat -c %s "$work/records/train-1.tfrecord") / 150 ))
printf '\x5a\x5a' | dd of="$work/damaged/train-1.tfrecord" bs=1 seek=$(( 70 * size + 30 )) \
  conv=notrunc status=none
config "$work/damaged" > "$work/damaged.textproto"
train 2 "$work/bad" "$work/damaged.textproto"
status=$?
[ $status -ne 0 ] && [ $status -ne 124 ] &&
  grep -qE "DataLoss: .*train-1\.tfrecord.*record 70" "$work/bad.log" ||
  fail "damaged record: exit $status, $(grep -i error "$work/bad.log" | head -3)"
[ $failures -eq 0 ] && echo "ok: a damaged record stops the job naming file and record"

# --- validation_split: the last examples validate, in memory, on every rank ---
config "$work/records" > "$work/split.textproto"
sed -i '/validation_files/d; s/^training {/training { validation_split: 0.25/' "$work/split.textproto"
train 2 "$work/split" "$work/split.textproto" || fail "validation_split run failed: $(tail -3 "$work/split.log")"
grep -q "450 training examples .*150 validation examples" "$work/split.log" ||
  fail "validation_split 0.25 of 600: $(grep examples "$work/split.log" | head -2)"
[ $failures -eq 0 ] && echo "ok: validation_split 0.25 streams 450 examples and validates on 150"

# --- a standalone coordinator: --epochs beyond its config's, and a seed it does not plan ---
# coordinator NAME [FLAGS]: starts one on 127.0.0.1 for 2 ranks; sets $address.
coordinator() {
  local name=$1; shift
  "$bin" coordinator "$work/stream.textproto" --listen 127.0.0.1:0 --world-size 2 "$@" \
    >"$work/coordinator-$name.log" 2>&1 &
  local log="$work/coordinator-$name.log"  # not the ranks' $name.log: both would write at offset 0
  for _ in $(seq 100); do grep -qs 'listening on' "$log" && break; sleep 0.1; done
  address=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$log" | cut -d' ' -f3)
}
cp -r "$ref" "$work/more"
coordinator more
plain=("${flags[@]}")
flags=("${plain[@]}" --coordinator "$address" --epochs 3)
train 2 "$work/more" || fail "--epochs 3 via a standalone coordinator failed: $(tail -3 "$work/more.log")"
[ "$(field "$work/more" 3 examples)" = 600 ] ||
  fail "--epochs 3 via a standalone coordinator: epoch 3 trained $(field "$work/more" 3 examples) examples"
coordinator seed --seed 4
flags=("${plain[@]}" --coordinator "$address")
train 2 "$work/seed" && fail "ranks with another seed than the coordinator's trained"
grep -q "FailedPrecondition: .*training.seed differs: the coordinator plans 4, rank . has 3" \
  "$work/seed.log" || fail "seed mismatch: $(grep -i error "$work/seed.log" | head -2)"
[ $failures -eq 0 ] && echo "ok: a standalone coordinator plans --epochs 3 and refuses another seed"
# Ranks with --train-examples 500 and a coordinator without: it plans all 600 records.
coordinator examples
flags=("${plain[@]}" --coordinator "$address" --train-examples 500)
train 2 "$work/examples" && fail "ranks with another train_examples than the coordinator's trained"
grep -q "FailedPrecondition: .*data.train_examples differs: the coordinator plans all (0), rank . \
has 500; start the coordinator with the same config and flags" "$work/examples.log" ||
  fail "train_examples mismatch: $(grep -i error "$work/examples.log" | head -2)"
[ $failures -eq 0 ] && echo "ok: a standalone coordinator refuses ranks with another --train-examples"

[ $failures -eq 0 ] && echo "stream_resume: all checks passed" && exit 0
echo "stream_resume: $failures check(s) failed"; exit 1
