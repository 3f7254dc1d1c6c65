#!/usr/bin/env bash
# The default --verbose (issue 25 point 9, Keras's verbose="auto"): a log of
# `mpirun -np 2 shardtrain train ... > file` holds one line per epoch and no
# \r (mpirun gives each rank a pseudo-terminal, so isatty alone would draw the
# live bar into the file); one process writing to a file does the same; one
# process on a terminal (util-linux `script`) draws the bar.
# Usage: verbosity_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip) without
# Fashion-MNIST.
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

# In memory: 2 ranks take the steps one process takes (10 per epoch).
sed 's/^data {$/data {\n  in_memory: true/' "$src/configs/fashion_mlp.textproto" > "$work/job.textproto"
args=("$work/job.textproto" --data "$work/data" --epochs 2 --train-examples 320
      --test-examples 100 --save-freq none)
# check_log LOG WHAT: one line per epoch and no carriage return in LOG.
check_log() {
  grep -q $'\r' "$1" && fail "$2: the log holds \\r (a live progress bar): $(head -c 300 "$1" | cat -A)"
  [ "$(grep -c '^Epoch [12]/2 - 10/10 - ' "$1")" -eq 2 ] ||
    fail "$2: expected two epoch lines: $(cat "$1")"
  [ $failures -eq 0 ] && echo "ok: $2: one line per epoch, no \\r"
}

mpirun -np 2 --oversubscribe "$bin" train "${args[@]}" --run-dir "$work/mpi" >"$work/mpi.log" 2>&1 ||
  fail "2-rank run failed: $(tail -3 "$work/mpi.log")"
check_log "$work/mpi.log" "mpirun -np 2 > file"

"$bin" train "${args[@]}" --run-dir "$work/one" >"$work/one.log" 2>&1 ||
  fail "1-process run failed: $(tail -3 "$work/one.log")"
check_log "$work/one.log" "1 process > file"

if command -v script >/dev/null; then
  cmd=$(printf '%q ' "$bin" train "${args[@]}" --run-dir "$work/tty")
  script -qec "$cmd" /dev/null >"$work/tty.log" 2>&1 || fail "run on a terminal failed: $(tail -3 "$work/tty.log")"
  grep -q $'\rEpoch 1/2 ' "$work/tty.log" || fail "no live bar on a terminal: $(head -c 300 "$work/tty.log" | cat -A)"
  [ $failures -eq 0 ] && echo "ok: 1 process on a terminal draws the live bar"
fi
exit $((failures > 0))
