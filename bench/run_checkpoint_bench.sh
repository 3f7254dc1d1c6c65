#!/usr/bin/env bash
# Checkpoint save/restore throughput (issue 5): our save (every rank writes its
# share, two-phase commit) and restore of a >= 1 GB checkpoint on 1 and 2 ranks,
# beside `dd ... conv=fsync` of the same bytes on the same disk, a cold
# sequential read of them, and torch.save/torch.load (Debian python3-torch)
# of the same tensors, in one run. Drops the page cache (root) before every
# read. Usage: bench/run_checkpoint_bench.sh [WIDTH] (default 9216 → 1.2 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
width=${1:-9216}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d "${TMPDIR:-/tmp}/ckbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }

declare -A save restore
for np in 1 2; do
  mpirun -np "$np" build/bin/checkpoint_bench --dir "$work/run$np" --width "$width" \
    --pause-file "$work/go$np" >"$work/out$np" 2>&1 &
  job=$!
  until grep -q "^paused" "$work/out$np" 2>/dev/null; do
    kill -0 $job 2>/dev/null || { cat "$work/out$np"; exit 1; }
    sleep 0.2
  done
  drop_caches
  touch "$work/go$np"
  wait $job
  save[$np]=$(awk '/save_seconds/ {print $2}' "$work/out$np")
  restore[$np]=$(awk '/restore_seconds/ {print $2}' "$work/out$np")
  bytes=$(awk '/save_seconds/ {print $4}' "$work/out$np")
  rm -rf "$work/run$np"
done

count=$(( (${bytes%.*} + 67108863) / 67108864 ))
dd_bytes=$(( count * 67108864 ))
start=$(date +%s.%N); dd if=/dev/zero of="$work/dd.bin" bs=64M count=$count conv=fsync status=none; end=$(date +%s.%N)
dd_write=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
drop_caches
start=$(date +%s.%N); dd if="$work/dd.bin" of=/dev/null bs=64M status=none; end=$(date +%s.%N)
dd_read=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')
rm -f "$work/dd.bin"

torch_save=n/a torch_load=n/a
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch_save=$(/usr/bin/python3 bench/torch_checkpoint.py save "$work/t.pt" "$width" | awk '{print $2}')
  drop_caches
  torch_load=$(/usr/bin/python3 bench/torch_checkpoint.py load "$work/t.pt" "$width" | awk '{print $2}')
  rm -f "$work/t.pt"
fi

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; disk $(df -h "$work" | awk 'NR==2 {print $1}'); $(date -u +%F)"
echo "checkpoint: 784 -> $width -> $width -> 10 MLP, weights + Adam m + v = $bytes bytes"
echo
echo "| what | seconds | GB/s | vs dd write | vs torch.save |"
echo "|---|---:|---:|---:|---:|"
printf '| dd conv=fsync (%d bytes) | %.3f | %s | 1.00 | |\n' "$dd_bytes" "$dd_write" "$(gbps "$dd_bytes" "$dd_write")"
[ "$torch_save" != n/a ] && printf '| torch.save + fsync | %.3f | %s | | 1.00 |\n' "$torch_save" "$(gbps "$bytes" "$torch_save")"
for np in 1 2; do
  s=${save[$np]}
  vs_dd=$(awk -v s="$s" -v d="$dd_write" -v b="$bytes" -v db="$dd_bytes" 'BEGIN { printf "%.2f", (b/s)/(db/d) }')
  vs_torch=$([ "$torch_save" != n/a ] && awk -v s="$s" -v t="$torch_save" 'BEGIN { printf "%.2f", t/s }' || echo n/a)
  printf '| our save, %d rank(s) | %.3f | %s | %s | %s |\n' "$np" "$s" "$(gbps "$bytes" "$s")" "$vs_dd" "$vs_torch"
done
echo
echo "| what (cold page cache) | seconds | GB/s | vs cold dd read | vs torch.load |"
echo "|---|---:|---:|---:|---:|"
printf '| dd read | %.3f | %s | 1.00 | |\n' "$dd_read" "$(gbps "$dd_bytes" "$dd_read")"
[ "$torch_load" != n/a ] && printf '| torch.load | %.3f | %s | | 1.00 |\n' "$torch_load" "$(gbps "$bytes" "$torch_load")"
for np in 1 2; do
  r=${restore[$np]}
  # Each rank reads the whole checkpoint: the job reads np x bytes.
  vs_dd=$(awk -v r="$r" -v d="$dd_read" -v b="$bytes" -v db="$dd_bytes" 'BEGIN { printf "%.2f", (b/r)/(db/d) }')
  vs_torch=$([ "$torch_load" != n/a ] && awk -v r="$r" -v t="$torch_load" 'BEGIN { printf "%.2f", t/r }' || echo n/a)
  printf '| our restore, %d rank(s) (each reads all) | %.3f | %s | %s | %s |\n' "$np" "$r" "$(gbps "$bytes" "$r")" "$vs_dd" "$vs_torch"
done
