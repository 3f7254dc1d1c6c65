#!/usr/bin/env bash
# A 2-rank training job whose ranks run on separate simulated hosts
# (tests/mpi/multinode_mpirun.sh: node-local size 1, TCP between ranks):
# the gradients go over MPI messages (no shared-memory window), the hosted
# coordinator listens on 127.0.0.2 ($SHARDTRAIN_COORDINATOR_HOST) and a
# standalone one on 127.0.0.3, each requiring its job token; every example is
# trained once per epoch; a SIGTERM-preempted run resumes to the same metrics
# as an uninterrupted one; a damaged latest checkpoint falls back to the
# previous one with the same result. Small runs: every MPI message costs ~8 ms
# between simulated hosts (256 examples, batch 32: 8 steps per epoch, 2 epochs).
# Usage: multinode_job_test.sh BUILD_BIN_DIR SOURCE_DIR. Exits 77 (skip)
# without Fashion-MNIST (Debian package dataset-fashion-mnist).
set -u
# shellcheck source=../fashion_job_test_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../fashion_job_test_env.sh" "$@"

multinode="$src/tests/mpi/multinode_mpirun.sh"
config="$src/configs/fashion_mlp.textproto"
flags=(--data "$work/data" --epochs 2 --train-examples 256 --test-examples 256 --save-freq 3
       --verbose 2 --job-token-file "$work/token")
printf 'multinode-test-token-%s\n' "$$" > "$work/token"
# train RUN_DIR [extra flags]: a 2-rank run on two simulated hosts, output in RUN_DIR.log.
train() {
  local dir=$1; shift
  timeout 120 "$multinode" -np 2 -x SHARDTRAIN_LOG_LEVEL=0 -x SHARDTRAIN_COORDINATOR_HOST=127.0.0.2 \
    "$bin" train "$config" "${flags[@]}" --run-dir "$dir" "$@" >>"$dir.log" 2>&1
}
epoch_line() { grep "\"epoch\": $2," "$1/logs/metrics.jsonl" | tail -1; }
metrics() { epoch_line "$1" "$2" | sed -E 's/, "examples_per_sec".*//'; }
field() { epoch_line "$1" "$2" | sed -E "s/.*\"$3\": ([^,}]*).*/\1/"; }

# --- the topology: one rank per node, MPI allreduce, coordinator on 127.0.0.2 ---
ref="$work/ref"
train "$ref" || fail "2-rank run on two hosts failed: $(tail -5 "$ref.log")"
for r in 0 1; do
  grep -q "rank $r of 2: 1 rank(s) on this node; allreduce over MPI messages" "$ref.log" ||
    fail "rank $r did not fall back to MPI allreduce: $(grep -i allreduce "$ref.log")"
done
grep -q "coordinator on 127.0.0.2:" "$ref.log" ||
  fail "hosted coordinator not on 127.0.0.2: $(grep -i coordinator "$ref.log")"
for epoch in 1 2; do
  [ "$(field "$ref" $epoch examples)" = 256 ] ||
    fail "epoch $epoch trained $(field "$ref" $epoch examples) examples, expected 256 (each once)"
done
grep -q 'test accuracy: 0\.[0-9]' "$ref.log" || fail "no test accuracy: $(tail -3 "$ref.log")"
[ $failures -eq 0 ] && echo "ok: 1 rank per host, MPI allreduce, coordinator on 127.0.0.2, 256 examples per epoch"

# --- an error after joining the control plane is reported alone (1 process, 2 hosts):
# rank 0 leaving with its own error is no "rank 0 ... disconnected" ---
for launcher in "" "$multinode -np 2"; do
  out=$(timeout 120 $launcher "$bin" train "$config" "${flags[@]}" --run-dir "$ref" --learning-rate 0.01 2>&1)
  grep -q "FailedPrecondition: checkpoint .* different job config" <<<"$out" ||
    fail "${launcher:-1 process}: a changed config was not refused: $(tail -3 <<<"$out")"
  grep -q "rank 0 .*disconnected" <<<"$out" && fail "${launcher:-1 process}: spurious disconnect: $out"
done
[ $failures -eq 0 ] && echo "ok: a refused config change names only its error"

# --- a standalone coordinator on 127.0.0.3 with the token; a wrong token is refused ---
timeout 100 "$bin" coordinator "$config" --listen 127.0.0.3:0 --world-size 2 --job-token-file "$work/token" \
  --data "$work/data" --train-examples 256 >"$work/coordinator.log" 2>&1 &
coordinator=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/coordinator.log" && break; sleep 0.1; done
address=$(grep -o 'listening on 127.0.0.3:[0-9]*' "$work/coordinator.log" | cut -d' ' -f3)
train "$work/standalone" --coordinator "$address" ||
  fail "2 ranks with --coordinator $address failed: $(tail -5 "$work/standalone.log")"
wait "$coordinator" || fail "standalone coordinator exited $?: $(cat "$work/coordinator.log")"
[ "$(metrics "$ref" 2)" = "$(metrics "$work/standalone" 2)" ] ||
  fail "standalone coordinator: epoch 2 differs: $(metrics "$ref" 2) vs $(metrics "$work/standalone" 2)"
printf 'wrong\n' > "$work/wrong"
timeout 100 "$bin" coordinator "$config" --listen 127.0.0.3:0 --world-size 2 --job-token-file "$work/token" \
  --data "$work/data" --train-examples 256 >"$work/coordinator2.log" 2>&1 &
coordinator=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/coordinator2.log" && break; sleep 0.1; done
address=$(grep -o 'listening on 127.0.0.3:[0-9]*' "$work/coordinator2.log" | cut -d' ' -f3)
train "$work/wrong" --coordinator "$address" --job-token-file "$work/wrong" &&
  fail "a wrong job token was accepted"
grep -q "PermissionDenied" "$work/wrong.log" || fail "wrong token: $(tail -3 "$work/wrong.log")"
kill "$coordinator" 2>/dev/null; wait "$coordinator" 2>/dev/null
[ $failures -eq 0 ] && echo "ok: standalone coordinator on $address with its token; a wrong token is refused"

# --- SIGTERM at step 4 saves ckpt-4; the re-run resumes to the uninterrupted metrics ---
pre="$work/pre"
SHARDTRAIN_TEST_SIGTERM_AT_STEP=4 train "$pre"  # (the simulated hosts inherit the environment)
grep -q "preempted (SIGTERM): saved .*ckpt-4; run the same command again" "$pre.log" ||
  fail "no preemption message: $(tail -3 "$pre.log")"
cp -r "$pre" "$work/damaged"
train "$pre" || fail "resumed run failed: $(tail -3 "$pre.log")"
grep -q "resuming from .*ckpt-4 " "$pre.log" || fail "did not resume from ckpt-4: $(grep resum "$pre.log")"
for epoch in 1 2; do  # the interrupted epoch and the next
  [ "$(metrics "$ref" $epoch)" = "$(metrics "$pre" $epoch)" ] ||
    fail "epoch $epoch differs after resume: $(metrics "$ref" $epoch) vs $(metrics "$pre" $epoch)"
done
[ $failures -eq 0 ] && echo "ok: preempted at step 4, resumed on two hosts, epochs 1-2 identical"

# --- a damaged latest checkpoint: both ranks fall back to ckpt-3, same result ---
printf '\x5a\x5a\x5a\x5a' |
  dd of="$work/damaged/checkpoints/ckpt-4.data-00000-of-00002" bs=1 seek=1000 conv=notrunc status=none
train "$work/damaged" || fail "resume past a damaged checkpoint failed: $(tail -3 "$work/damaged.log")"
grep -qE "warning: skipping damaged checkpoint .*ckpt-4: DataLoss: .*ckpt-4.data-00000-of-00002" \
  "$work/damaged.log" && grep -q "resuming from .*ckpt-3 " "$work/damaged.log" ||
  fail "did not fall back to ckpt-3: $(grep -E "warning|resuming" "$work/damaged.log")"
for epoch in 1 2; do
  [ "$(metrics "$ref" $epoch)" = "$(metrics "$work/damaged" $epoch)" ] ||
    fail "after falling back, epoch $epoch differs: $(metrics "$ref" $epoch) vs $(metrics "$work/damaged" $epoch)"
done
[ $failures -eq 0 ] && echo "ok: damaged ckpt-4 skipped on both hosts, resumed from ckpt-3, epochs 1-2 identical"

[ $failures -eq 0 ] && echo "multinode job: all checks passed" && exit 0
echo "multinode job: $failures check(s) failed"; exit 1
