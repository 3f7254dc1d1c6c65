#!/usr/bin/env bash
# Reference-CNN training step vs PyTorch, in one run: for batch 64 and 256,
# alternates shardtrain's cnn_bench and PyTorch (bench/torch_cnn.py), REPS
# times each, THREADS threads each, and prints a markdown table of medians with
# the step's GEMM floor (cnn_bench's header comment lists its products).
# Needs a build (scripts/test.sh) and python3-torch (installed if missing).
# Environment: REPS (default 5), SECONDS_EACH (default 3), BATCHES (default
# "64 256"), THREADS (default: the cores, nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages python3-torch
bench=build/bin/cnn_bench
[ -x "$bench" ] || { echo "build first: ./scripts/test.sh (or cmake --build build --target cnn_bench)"; exit 1; }
threads=${THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
reps=${REPS:-5}
secs=${SECONDS_EACH:-3}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
echo "peer: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (Debian python3-torch), $threads threads; ours $threads threads"
echo "$reps repetitions x ${secs}s each, interleaved; medians"
echo
echo "| batch | shardtrain ex/s | PyTorch ex/s | ratio | step ms | GEMM floor ms | step / floor |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for batch in ${BATCHES:-64 256}; do
  ours=() theirs=() steps=() floors=()
  for ((i = 0; i < reps; i++)); do
    line=$("$bench" --batch "$batch" --seconds "$secs")
    ours+=("$(field examples_per_sec <<<"$line")")
    steps+=("$(field step_ms <<<"$line")")
    floors+=("$(field gemm_floor_ms <<<"$line")")
    line=$(/usr/bin/python3 bench/torch_cnn.py --batch "$batch" --seconds "$secs" --threads "$threads")
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
