#!/usr/bin/env bash
# Allreduce bandwidth on this machine, in one run: shardtrain's bucketed
# GradientReducer vs one MPI_Allreduce vs memcpy, 1 KB to 256 MB (x4), on
# `mpirun -np RANKS` (default 2), printing a markdown table (rank 0).
# Needs a build with bin/allreduce_bench (cmake --build build --target allreduce_bench).
# Environment: BUILD (default build), RANKS (default 2), MAX_BYTES, BUCKET_BYTES,
# SECONDS_PER_SIZE (default 0.4; at least 3 repetitions each).
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
exec "${launcher[@]}" "$bench" "${args[@]}"
