#!/usr/bin/env bash
# Streamed input pipeline vs the in-memory loader (issue 22 point 4), in one run:
#  1. writes the synthetic set once (build/bin/stream_bench generate: 8 files,
#     1.35 M tf.train.Example records of 784 float32 values, 4.3 GB) into DATA,
#     reused while DATA/stream_bench_set.txt matches;
#  2. REPS times, interleaved: the streamed pipeline alone (stream_bench stream:
#     EXAMPLES examples, 10,000-slot shuffle buffer, 2 reader threads, batches
#     of 64, warm page cache), the in-memory loader (stream_bench memory: load
#     the whole set, then gather EXAMPLES random rows in batches of 64), and the
#     trainer's step on the reference model (train_bench, batch 32 and 64);
#  3. unless TRAIN=0, trains the reference model on the set on 2 ranks
#     (bench/stream_bench_config.textproto, mpirun -np 2), stopped by
#     preemption at step STOP_STEP, streamed and with data.in_memory: true,
#     each rank under /usr/bin/time for its peak RSS. The in-memory run holds
#     the whole set on every rank (~4.1 GB each); it is skipped when
#     MemAvailable is under 12 GB.
# Prints markdown tables of medians. Needs build/bin/{stream_bench,train_bench,shardtrain}.
# Environment: DATA (default /work/bench-data/stream), EXAMPLES (400000), REPS (3),
# TRAIN (1), STOP_STEP (5000).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
for b in stream_bench train_bench shardtrain; do
  [ -x "$bin/$b" ] || { echo "build first: cmake --build build --target $b"; exit 1; }
done
data=${DATA:-/work/bench-data/stream}
examples=${EXAMPLES:-400000}
reps=${REPS:-3}
stop_step=${STOP_STEP:-5000}
field() { grep -o "\(^\| \)$1=[0-9.]*" | cut -d= -f2; }
# The trainer's step as bench/run_train_bench.sh times it (2 threads).
train_bench() { OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$bin/train_bench" --seconds 3 --batch "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
med() { printf '%s\n' "$@" | median; }

echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); load average $(cut -d' ' -f1-3 /proc/loadavg)"
parent=$data
while [ ! -d "$parent" ]; do parent=$(dirname "$parent"); done
df -h "$parent" | tail -1 | awk '{print "disk: " $4 " free on " $6}'
"$bin/stream_bench" generate --dir "$data"
echo "set: $(du -sb "$data" | awk '{printf "%.2f GB", $1 / 1e9}') in $data"

s_rate=() s_rss=() s_first=() m_load=() m_rss=() m_rate=() t32=() t64=()
for ((i = 0; i < reps; i++)); do
  line=$("$bin/stream_bench" stream --dir "$data" --examples "$examples")
  echo "  $line" >&2
  s_rate+=("$(field examples_per_sec <<<"$line")") s_rss+=("$(field peak_rss_mb <<<"$line")")
  s_first+=("$(field first_batch_ms <<<"$line")")
  line=$("$bin/stream_bench" memory --dir "$data" --examples "$examples")
  echo "  $line" >&2
  m_load+=("$(field load_seconds <<<"$line")") m_rss+=("$(field peak_rss_mb <<<"$line")")
  m_rate+=("$(field gather_examples_per_sec <<<"$line")")
  t32+=("$(train_bench 32 | field examples_per_sec)")
  t64+=("$(train_bench 64 | field examples_per_sec)")
  echo "  train_bench ex/s: batch 32 ${t32[-1]}, batch 64 ${t64[-1]}" >&2
done
sr=$(med "${s_rate[@]}") mr=$(med "${m_rate[@]}")
tr32=$(med "${t32[@]}") tr64=$(med "${t64[@]}")
echo
echo "$reps repetitions, medians; pipeline and gather: $examples examples in batches of 64"
echo
echo "| input | s to first batch | peak RSS MiB | examples/s | vs trainer (batch 32) | vs trainer (batch 64) |"
echo "|---|---:|---:|---:|---:|---:|"
awk -v r="$sr" -v m="$(med "${s_rss[@]}")" -v f="$(med "${s_first[@]}")" -v a="$tr32" -v b="$tr64" \
  'BEGIN {printf "| streamed (ExampleStream) | %.2f | %.0f | %.0f | %.1fx | %.1fx |\n", f / 1000, m, r, r / a, r / b}'
awk -v r="$mr" -v m="$(med "${m_rss[@]}")" -v l="$(med "${m_load[@]}")" -v a="$tr32" -v b="$tr64" \
  'BEGIN {printf "| in memory (LoadFiles + gather) | %.1f | %.0f | %.0f | %.1fx | %.1fx |\n", l, m, r, r / a, r / b}'
awk -v a="$tr32" -v b="$tr64" \
  'BEGIN {printf "| trainer step (train_bench), batch 32 / 64 | | | %.0f / %.0f | | |\n", a, b}'
# The trainer's figure from a quiet machine: train_bench slows many-fold when
# other processes hold the cores (its OpenMP threads spin), the pipeline less.
quiet=$(sed -n 's/^| 32 | \([0-9,]*\) |.*/\1/p' docs/BENCHMARKS.md | head -1 | tr -d ,)
[ -n "$quiet" ] && awk -v r="$sr" -v q="$quiet" 'BEGIN {printf "\nstreamed pipeline vs the trainer'"'"'s %d examples/s at batch 32 in docs/BENCHMARKS.md (quiet machine): %.1fx\n", q, r / q}'

[ "${TRAIN:-1}" = 0 ] && exit 0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# train MODE EXTRA: 2 ranks until step STOP_STEP; prints one table row.
train() {
  local mode=$1 extra=$2 cfg=$work/$1.textproto
  sed -e "s|/work/bench-data/stream|$data|" -e "s|shuffle_buffer: 10000|& $extra|" \
    bench/stream_bench_config.textproto >"$cfg"
  local start=$SECONDS
  SHARDTRAIN_TEST_SIGTERM_AT_STEP=$stop_step mpirun -np 2 sh -c \
    'exec /usr/bin/time -f %M -o "$0.rss.$OMPI_COMM_WORLD_RANK" "$@"' "$work/$mode" \
    "$bin/shardtrain" train "$cfg" --run-dir "$work/$mode.run" >"$work/$mode.log" 2>&1 || true
  local wall=$((SECONDS - start))
  grep -q "preempted (SIGTERM)" "$work/$mode.log" ||
    { echo "| $mode | did not stop at step $stop_step: $(tail -2 "$work/$mode.log" | tr '\n' ' ') |"; return; }
  printf '| %s | %s | %s | %d |\n' "$mode" "$(($(tail -1 "$work/$mode.rss.0") / 1024))" \
    "$(($(tail -1 "$work/$mode.rss.1") / 1024))" "$wall"
}
echo
echo "training on 2 ranks (mpirun -np 2), global batch 32, stopped at step $stop_step" \
  "($((stop_step * 32)) of $(sed -n 's/.*examples=\([0-9]*\).*/\1/p' "$data/stream_bench_set.txt") examples)"
echo
echo "| data | rank 0 peak RSS MiB | rank 1 peak RSS MiB | wall s |"
echo "|---|---:|---:|---:|"
train streamed ""
available=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
if [ "$available" -ge 12 ]; then
  train in_memory "in_memory: true"
else
  echo "| in_memory | skipped: ${available} GiB available (needs 12) | | |"
fi
