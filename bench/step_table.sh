# Sourced by bench/run_train_bench.sh and bench/run_cnn_bench.sh: the table of
# a step benchmark (train_bench, cnn_bench: one "examples_per_sec= step_ms=
# gemm_floor_ms=" line per run) beside its PyTorch peer script (one
# "examples_per_sec=" line), alternated REPS times per batch, medians.
#   step_table BENCH_BINARY PEER_SCRIPT THREADS BATCHES...
# Environment: REPS (default 5), SECONDS_EACH (default 3).
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

step_table() {
  local bench=$1 peer=$2 threads=$3
  shift 3
  [ -x "$bench" ] || { echo "build first: ./scripts/test.sh (or cmake --build build --target $(basename "$bench"))"; exit 1; }
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  local reps=${REPS:-5} secs=${SECONDS_EACH:-3}
  echo "machine: $(nproc) cores, $(sed -n 's/model name\s*: //p' /proc/cpuinfo | head -1)"
  echo "peer: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') (Debian python3-torch), $threads threads; ours $threads threads"
  echo "$reps repetitions x ${secs}s each, interleaved; medians"
  echo
  echo "| batch | shardtrain ex/s | PyTorch ex/s | ratio | step ms | GEMM floor ms | step / floor |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  local batch line o t s f
  for batch in "$@"; do
    local ours=() theirs=() steps=() floors=()
    for ((i = 0; i < reps; i++)); do
      line=$("$bench" --batch "$batch" --seconds "$secs")
      ours+=("$(field examples_per_sec <<<"$line")")
      steps+=("$(field step_ms <<<"$line")")
      floors+=("$(field gemm_floor_ms <<<"$line")")
      line=$(/usr/bin/python3 "$peer" --batch "$batch" --seconds "$secs" --threads "$threads")
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
}
