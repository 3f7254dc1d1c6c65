#!/usr/bin/env bash
# Training throughput of the reference model (configs/fashion_mlp.textproto)
# at 1, 2, 3 and 4 ranks on this machine, whatever its core count: ranks that
# outnumber the cores must share them without a cliff (issue 24 point 6:
# no rank count below half the 1-rank rate). Each run trains EPOCHS epochs of
# TRAIN_EXAMPLES Fashion-MNIST examples (global batch 32) and reports the last
# epoch's examples_per_sec from metrics.jsonl; REPS runs per rank count,
# interleaved, medians. Prints a markdown table and the load average.
# Needs build/bin/shardtrain and Fashion-MNIST (Debian dataset-fashion-mnist).
# Environment: RANKS (default "1 2 3 4"), REPS (3), EPOCHS (2),
# TRAIN_EXAMPLES (12800), SHARDTRAIN_BIN (build/bin/shardtrain, e.g. to
# compare builds). OMP_NUM_THREADS, if set, is passed through (the default
# lets each rank size its team, kernels/cpu/thread_plan.h).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SHARDTRAIN_BIN:-$PWD/build/bin/shardtrain}
fmnist=/usr/share/datasets/fashion-mnist
[ -x "$bin" ] || { echo "build first: ./scripts/test.sh (or cmake --build build)"; exit 1; }
[ -f "$fmnist/train-labels-idx1-ubyte.gz" ] || { echo "needs Fashion-MNIST in $fmnist"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ranks_list=${RANKS:-1 2 3 4}
reps=${REPS:-3}
epochs=${EPOCHS:-2}
examples=${TRAIN_EXAMPLES:-12800}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" data prepare --dataset fashion_mnist --source "$fmnist" --output "$work/data" \
  --num-shards 4 >/dev/null

# rate NP RUN: examples/s of the last epoch of one NP-rank run.
rate() {
  local np=$1 dir="$work/run-$1-$2" launcher=()
  [ "$np" -gt 1 ] && launcher=(mpirun -np "$np" --oversubscribe)
  "${launcher[@]}" "$bin" train configs/fashion_mlp.textproto --data "$work/data" \
    --run-dir "$dir" --epochs "$epochs" --train-examples "$examples" --test-examples 1000 \
    --save-freq epoch --verbose 0 >"$dir.log" 2>&1 || { echo "run failed: $(tail -3 "$dir.log")" >&2; exit 1; }
  grep "\"epoch\": $epochs," "$dir/logs/metrics.jsonl" | sed -E 's/.*"examples_per_sec": ([0-9.]+).*/\1/'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A rates
for ((i = 0; i < reps; i++)); do
  for np in $ranks_list; do rates[$np]+="$(rate "$np" "$i") "; done
done

echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
echo "OMP_NUM_THREADS: ${OMP_NUM_THREADS:-unset}; $reps runs per rank count, interleaved; medians"
echo "load average (1, 5, 15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| ranks | examples/s (median) | runs | vs 1 rank |"
echo "|---:|---:|---|---:|"
one=""
for np in $ranks_list; do
  m=$(tr ' ' '\n' <<<"${rates[$np]}" | grep . | median)
  [ -z "$one" ] && one=$m
  awk -v np="$np" -v m="$m" -v all="${rates[$np]}" -v one="$one" \
    'BEGIN {n = split(all, r, " "); s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? ", " : "") sprintf("%.0f", r[i]);
            printf "| %d | %.0f | %s | %.2f |\n", np, m, s, m / one}'
done
