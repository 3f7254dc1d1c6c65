#!/usr/bin/env bash
# A job token of any length works: a 2-rank job whose --job-token-file holds
# 100 characters registers every rank with the hosted coordinator and trains
# to the end (rank 0 once sent the token in a 64-byte buffer, truncating it,
# and the coordinator then refused every rank).
# Usage: job_token_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without
# Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

token=$(printf 'k%.0s' $(seq 99))T  # 100 characters
[ ${#token} -eq 100 ] || { echo "FAIL: test token has ${#token} characters"; exit 1; }
printf '%s\n' "$token" > "$work/token"
log="$work/token.log"
timeout 120 mpirun -np 2 "$bin" train "$src/configs/fashion_mlp.textproto" --data "$work/data" \
  --run-dir "$work/run" --epochs 1 --train-examples 256 --test-examples 256 --verbose 2 \
  --job-token-file "$work/token" >"$log" 2>&1
status=$?
if [ $status -ne 0 ] || ! grep -q 'test accuracy: 0\.[0-9]' "$log"; then
  fail "2 ranks with a 100-character job token: exit $status: $(tail -5 "$log")"
else
  echo "ok: 2 ranks with a 100-character --job-token-file trained to the end"
fi
[ $failures -eq 0 ] && echo "job token: all checks passed" && exit 0
exit 1
