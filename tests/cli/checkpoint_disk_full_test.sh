#!/usr/bin/env bash
# Issue 24, point 4, end to end: `train` whose checkpoint directory is a small
# tmpfs (512 KiB: one checkpoint of this model fits, two do not) commits
# ckpt-7, then fails the ckpt-14 save with a non-zero exit and an error naming
# the file, "No space left on device" and what to do; the same directory
# remounted read-only fails the next run's save with "Read-only file system".
# Both times ckpt-7 stays the latest, verifies, and no temporary file is left.
# Usage: checkpoint_disk_full_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77
# (skip) without Fashion-MNIST or where this process may not mount a tmpfs
# (needs root with CAP_SYS_ADMIN).
set -u
probe=$(mktemp -d)
if ! mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
  rmdir "$probe"
  echo "SKIP: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)"
  exit 77
fi
umount "$probe" && rmdir "$probe"
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"
mnt="$work/run/checkpoints"
mkdir -p "$mnt"
mount -t tmpfs -o size=512k tmpfs "$mnt" || { echo "FAIL: mounting the tmpfs"; exit 1; }
trap 'umount -l "$mnt" 2>/dev/null; pkill -KILL -f "$work" 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/small.textproto" <<CONFIG
model {
  input_shape: [784]
  layers { dense { units: 32 activation: RELU } }
  layers { dense { units: 10 } }
}
optimizer { adam {} }
loss { sparse_categorical_crossentropy { from_logits: true } }
data { dir: "$work/data" num_classes: 10 train_examples: 960 test_examples: 200 }
training { batch_size: 32 epochs: 1 seed: 1 }
CONFIG
# train LOG: one run into $work/run, every 7 steps a checkpoint; its exit status.
train() {
  timeout 60 "$bin" train "$work/small.textproto" --run-dir "$work/run" --save-freq 7 \
    --verbose 0 >"$1" 2>&1
}
latest() { sed -n 's/^model_checkpoint_path: "\(.*\)"$/\1/p' "$mnt/checkpoint"; }
# check NAME LOG STATUS NEEDLE...: the run failed, its output has every needle,
# ckpt-7 is still the latest and verifies, and no temporary file is left.
check() {
  local name=$1 log=$2 status=$3; shift 3
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || fail "$name: exit status $status, expected a failure"
  for needle in "$@"; do
    grep -qF -- "$needle" "$log" || fail "$name: no '$needle' in: $(tail -3 "$log")"
  done
  [ "$(latest)" = ckpt-7 ] || fail "$name: the latest is '$(latest)', expected ckpt-7"
  "$bin" inspect "$mnt/ckpt-7" --verify >/dev/null 2>&1 || fail "$name: ckpt-7 does not verify"
  leftovers=$(ls "$mnt" | grep -E 'tempstate|^checkpoint\.tmp')
  [ -z "$leftovers" ] || fail "$name: temporary files left: $leftovers"
  [ "$failures" -eq 0 ] && echo "ok: $name: $(grep -m1 -oE "(write|open for writing) '[^']*ckpt-14[^']*': [^—]*" "$log")"
}

train "$work/full.log"
check "disk full" "$work/full.log" $? "'$mnt/ckpt-14.data-00000-of-00001.tempstate" \
  "No space left on device — the disk holding $mnt is full: free space there" \
  "the previous checkpoint is still the latest"

mount -o remount,ro "$mnt" || fail "remounting read-only"
train "$work/readonly.log"
check "read-only" "$work/readonly.log" $? "'$mnt/ckpt-14.data-00000-of-00001.tempstate" \
  "Read-only file system — $mnt is not writable" "make it writable or pass another --run-dir"

[ "$failures" -eq 0 ] && echo "PASS: checkpoint saves on a full or read-only disk" || { echo "$failures failure(s)"; exit 1; }
