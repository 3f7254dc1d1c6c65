#!/usr/bin/env bash
# Allreduce bandwidth on this machine, in one run: shardtrain's bucketed
# GradientReducer on the communicator's gradient buffer (the single-copy
# shared-memory path when all ranks share the node) and on a private buffer
# (the MPI path), vs one MPI_Allreduce vs memcpy, 1 KB to 256 MB (x4), on
# `mpirun -np RANKS` (default 2), printing a markdown table (rank 0).
# Needs a build with bin/allreduce_bench (cmake --build build --target allreduce_bench).
# Environment: BUILD (default build), RANKS (default 2), MAX_BYTES, BUCKET_BYTES,
# SECONDS_PER_SIZE (default 0.4; at least 5 repetitions each); SHARDTRAIN_SHM_ALLREDUCE=0
# turns the shared-memory path off (then "ours" is the MPI path too).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${BUILD:-build}/bin/allreduce_bench
[ -x "$bench" ] || { echo "build first: cmake --build ${BUILD:-build} --target allreduce_bench"; exit 1; }
ranks=${RANKS:-2}
launcher=(mpirun -np "$ranks")
[ "$(id -u)" -eq 0 ] && launcher+=(--allow-run-as-root)
[ "$ranks" -gt "$(nproc)" ] && launcher+=(--oversubscribe)
args=(--mpirun-version "$(mpirun --version 2>/dev/null | head -1)")
[ -n "${MAX_BYTES:-}" ] && args+=(--max-bytes "$MAX_BYTES")
[ -n "${BUCKET_BYTES:-}" ] && args+=(--bucket-bytes "$BUCKET_BYTES")
[ -n "${SECONDS_PER_SIZE:-}" ] && args+=(--seconds-per-size "$SECONDS_PER_SIZE")
"${launcher[@]}" "$bench" "${args[@]}"

# Training throughput of the reference model, 1 rank vs 2 ranks (same global
# batch 32, one epoch of Fashion-MNIST each, MPI allreduce of the gradients).
[ "${SKIP_TRAINING:-0}" = 1 ] && exit 0
shardtrain=${BUILD:-build}/bin/shardtrain
data=${DATA:-data/fashion_mnist}
if [ ! -f "$data/test-00003-of-00004.tfrecord" ]; then
  "$shardtrain" data prepare --dataset fashion_mnist --output "$data" --num-shards 4 >/dev/null
fi
echo
echo "| ranks | training examples/s (epoch 1, batch 32) |"
echo "|---:|---:|"
for n in 1 2; do
  out=$(mpirun -np "$n" $([ "$(id -u)" -eq 0 ] && echo --allow-run-as-root) \
        "$shardtrain" train configs/fashion_mlp.textproto --data "$data" --epochs 1 \
        --run-dir "$(mktemp -d)" --verbose 2)
  echo "| $n | $(sed -n 's/.* - \([0-9]*\) examples\/s$/\1/p' <<<"$out") |"
done
