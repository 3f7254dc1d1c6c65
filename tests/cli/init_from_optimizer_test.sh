#!/usr/bin/env bash
# train --init-from FILE and the optimizer FILE was compiled with: a config
# without an optimizer trains with the file's (SGD with momentum here: its
# checkpoint has momentum slots, no Adam ones) and says so in one line; a
# config with its own optimizer keeps it (Adam slots) and names the difference
# in one line; an identical one prints nothing about it.
# Usage: init_from_optimizer_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

write_config() {  # write_config FILE OPTIMIZER_BLOCK
  cat > "$1" <<CONFIG
model {
  input_shape: [784]
  layers { dense { units: 32 activation: RELU } }
  layers { dense { units: 10 } }
}
$2
loss { sparse_categorical_crossentropy { from_logits: true } }
data { dir: "$work/data" num_classes: 10 train_examples: 500 test_examples: 200 }
training { batch_size: 50 epochs: 1 seed: 1 }
CONFIG
}
write_config "$work/sgd.textproto" 'optimizer { sgd { momentum: 0.9 } learning_rate: 0.05 }'
write_config "$work/none.textproto" ''
write_config "$work/adam.textproto" 'optimizer { adam {} }'

"$bin" train "$work/sgd.textproto" --run-dir "$work/base" --verbose 0 >"$work/base.log" 2>&1 ||
  fail "base run failed: $(tail -3 "$work/base.log")"
"$bin" export --config "$work/sgd.textproto" --run-dir "$work/base" --format keras \
  --output "$work/base.keras" >/dev/null 2>&1 || fail "export of the base as .keras failed"

# run NAME CONFIG: trains from base.keras into $work/NAME, log in $work/NAME.log.
run() {
  "$bin" train "$2" --init-from "$work/base.keras" --run-dir "$work/$1" --verbose 0 \
    >"$work/$1.log" 2>&1 || fail "$1: training failed: $(tail -3 "$work/$1.log")"
}
slots() { "$bin" inspect "$work/$1/checkpoints" 2>/dev/null | grep -o 'OPTIMIZER_SLOT/optimizer/[a-z]*' | sort -u | tr '\n' ' '; }

run none "$work/none.textproto"
grep -q "^optimizer from $work/base.keras (the config sets none): .*sgd {.*momentum: 0.9" "$work/none.log" ||
  fail "none: no line naming the file's SGD: $(grep -i optimizer "$work/none.log")"
[ "$(grep -c -i '^optimizer' "$work/none.log")" -eq 1 ] || fail "none: expected one optimizer line"
[ "$(slots none)" = "OPTIMIZER_SLOT/optimizer/momentum " ] || fail "none: slots are '$(slots none)', not momentum"

run adam "$work/adam.textproto"
grep -q "^optimizer: the config's, not $work/base.keras's: kind: adam {} (file: sgd { momentum: 0.9 }); learning_rate: 0.001 (default) (file: 0.05)" \
  "$work/adam.log" || fail "adam: no line naming the difference: $(grep -i optimizer "$work/adam.log")"
[ "$(slots adam)" = "OPTIMIZER_SLOT/optimizer/m OPTIMIZER_SLOT/optimizer/v " ] ||
  fail "adam: slots are '$(slots adam)', not Adam's m and v"

run same "$work/sgd.textproto"
grep -q -i '^optimizer' "$work/same.log" && fail "same optimizer: a line was printed: $(grep -i '^optimizer' "$work/same.log")"

grep -h -i "^optimizer" "$work"/{none,adam}.log
[ "$failures" -eq 0 ] && echo "PASS: --init-from's optimizer" || { echo "$failures failure(s)"; exit 1; }
