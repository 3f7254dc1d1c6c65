#!/usr/bin/env bash
# Trainer throughput vs PyTorch, in one run: for batch 32 and 256, alternates
# shardtrain's train_bench and PyTorch (bench/pytorch_mlp.py), REPS times each,
# 2 threads each, and prints a markdown table of medians with the GEMM floor.
# Needs a build (scripts/test.sh) and python3-torch (installed if missing).
# Environment: REPS (default 5), SECONDS_EACH (default 3), BATCHES (default "32 256").
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages python3-torch
bench=build/bin/train_bench
[ -x "$bench" ] || { echo "build first: ./scripts/test.sh (or cmake --build build)"; exit 1; }
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2
reps=${REPS:-5}
secs=${SECONDS_EACH:-3}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
echo "peer: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (Debian python3-torch), 2 threads"
echo "$reps repetitions x ${secs}s each, interleaved; medians"
echo
echo "| batch | shardtrain ex/s | PyTorch ex/s | ratio | step ms | GEMM floor ms | step / floor |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for batch in ${BATCHES:-32 256}; do
  ours=() theirs=() steps=() floors=()
  for ((i = 0; i < reps; i++)); do
    line=$("$bench" --batch "$batch" --seconds "$secs")
    ours+=("$(field examples_per_sec <<<"$line")")
    steps+=("$(field step_ms <<<"$line")")
    floors+=("$(field gemm_floor_ms <<<"$line")")
    line=$(/usr/bin/python3 bench/pytorch_mlp.py --batch "$batch" --seconds "$secs" --threads 2)
    theirs+=("$(field examples_per_sec <<<"$line")")
  done
  o=$(printf '%s\n' "${ours[@]}" | median)
  t=$(printf '%s\n' "${theirs[@]}" | median)
  s=$(printf '%s\n' "${steps[@]}" | median)
  f=$(printf '%s\n' "${floors[@]}" | median)
  awk -v b="$batch" -v o="$o" -v t="$t" -v s="$s" -v f="$f" \
    'BEGIN {printf "| %d | %.0f | %.0f | %.2fx | %.3f | %.3f | %.2f |\n", b, o, t, o / t, s, f, s / f}'
  echo "  (batch $batch runs: ours ${ours[*]}; pytorch ${theirs[*]})" >&2
done
