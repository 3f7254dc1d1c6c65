#!/usr/bin/env bash
# The reference CNN (configs/fashion_cnn.textproto, issue 23 point 4) end to
# end on a small slice (1,024 training and 512 test examples, one epoch):
# it trains in one process and learns (test accuracy well above chance);
# `evaluate` of its checkpoint gives the accuracy training printed; the
# SavedModel (our runtime) and the .keras export evaluate to the checkpoint's
# accuracy (+-0.001) and outputs (1e-4); `mpirun -np 2` trains and its
# checkpoint evaluates to the accuracy it printed.
# Usage: fashion_cnn_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

config="$src/configs/fashion_cnn.textproto"
flags=(--data "$work/data" --train-examples 1024 --test-examples 512 --epochs 1 --verbose 2)
json_field() { sed -E "s/.*\"$1\": ([^,}]*).*/\1/" "$2"; }
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && d >= -t) }'; }

# One process, the stock config.
"$bin" train "$config" "${flags[@]}" --run-dir "$work/one" >"$work/one.log" 2>&1 ||
  { echo "FAIL: training failed: $(tail -5 "$work/one.log")"; exit 1; }
val_acc=$(json_field val_accuracy "$work/one/logs/metrics.jsonl")
awk -v a="$val_acc" 'BEGIN { exit !(a >= 0.4) }' || fail "test accuracy $val_acc after one epoch (chance 0.1)"
echo "ok: one process: $(grep '^test accuracy' "$work/one.log")"

# evaluate of the checkpoint: the accuracy training printed.
common=("$config" --data "$work/data" --run-dir "$work/one")
"$bin" evaluate "${common[@]}" --test-examples 512 --json --predictions "$work/ckpt.npy" >"$work/ckpt.json" ||
  { echo "FAIL: evaluate failed"; exit 1; }
ckpt_acc=$(json_field accuracy "$work/ckpt.json")
within "$ckpt_acc" "$val_acc" 1e-9 || fail "evaluate accuracy $ckpt_acc vs training's $val_acc"

# Exports evaluate to the checkpoint's accuracy and outputs.
check_export() {  # NAME EVALUATE_FLAGS...
  local name=$1 acc out
  shift
  "$bin" evaluate "${common[@]}" --test-examples 512 "$@" --json --predictions "$work/$name.npy" >"$work/$name.json" \
    2>"$work/$name.err" || { fail "evaluate of the $name export: $(cat "$work/$name.err")"; return; }
  acc=$(json_field accuracy "$work/$name.json")
  within "$acc" "$ckpt_acc" 0.001 || fail "$name: accuracy $acc vs the checkpoint's $ckpt_acc"
  out=$(/usr/bin/python3 "$src/tests/cli/compare_npy.py" "$work/ckpt.npy" "$work/$name.npy" 1e-4) ||
    fail "$name: outputs differ: $out"
  echo "ok: $name: accuracy $acc; $out"
}
if "$bin" export --config "${common[@]}" --format saved_model --output "$work/models/cnn" \
  >"$work/sm.log" 2>&1; then
  check_export saved_model --saved-model "$work/models/cnn/1"
else
  fail "saved_model export: $(cat "$work/sm.log")"
fi
if "$bin" export --config "${common[@]}" --format keras --output "$work/cnn.keras" >"$work/keras.log" 2>&1; then
  check_export keras --keras "$work/cnn.keras"
else
  fail "keras export: $(cat "$work/keras.log")"
fi

# 2 ranks: each normalizes with its own half batch; the checkpoint they write
# (moving statistics included) evaluates to the accuracy training printed.
timeout 120 mpirun -np 2 --oversubscribe "$bin" train "$config" "${flags[@]}" --run-dir "$work/two" \
  >"$work/two.log" 2>&1 || fail "mpirun -np 2 failed: $(tail -5 "$work/two.log")"
two_acc=$(json_field val_accuracy "$work/two/logs/metrics.jsonl")
awk -v a="$two_acc" 'BEGIN { exit !(a >= 0.4) }' || fail "2 ranks: test accuracy $two_acc after one epoch"
"$bin" evaluate "$config" --data "$work/data" --run-dir "$work/two" --test-examples 512 --json \
  >"$work/two.json" || fail "evaluate of the 2-rank checkpoint failed"
within "$(json_field accuracy "$work/two.json")" "$two_acc" 1e-9 ||
  fail "2 ranks: evaluate accuracy $(json_field accuracy "$work/two.json") vs training's $two_acc"
echo "ok: 2 ranks: test accuracy $two_acc"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "PASS"
