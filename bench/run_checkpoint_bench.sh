#!/usr/bin/env bash
# Checkpoint save/restore throughput (issue 5): our save (every rank writes its
# share, two-phase commit) and restore of a >= 1 GB checkpoint on 1 and 2 ranks,
# beside baselines moving the same bytes on the same disk, in one run:
#   * `dd conv=fsync` writing a copy of our data file (page-cache writes, as
#     the issue asks) and `dd oflag=direct conv=fsync` (bypassing the cache);
#   * a cold `dd` read of our data file, buffered and `iflag=direct`, and a
#     cold plain read() of it into one buffer of its size (checkpoint_bench
#     --read-into-memory): a restore must land every byte in memory, dd does not;
#   * torch.save (+ fsync) / torch.load of the same tensors (Debian python3-torch).
# The page cache is dropped (needs root) before every cold read. The cold dd
# read is timed twice, because on a VM its speed depends on where its page-cache
# pages come from: right after the write baselines freed 3.3 GB of page cache
# (pages the host still backs), and "settled", SETTLE_SECONDS (default 3) after
# dropping the cache, when the guest has handed its free pages back to the host
# (virtio-balloon free page reporting) and every new page-cache page costs a
# host page fault. Our restore runs settled too; its O_DIRECT reads land in
# model memory, so it allocates no page cache (docs/BENCHMARKS.md). Baselines copy
# our own file, not /dev/zero: a thin-provisioned virtual disk stores zeros
# without writing them, which made a zero-filled dd look twice as fast.
# Every figure is the median of REPS runs (default 3), interleaved, because
# disk speed on shared virtual machines swings by 2x from one minute to the next.
# Usage: [REPS=N] bench/run_checkpoint_bench.sh [WIDTH] (default 9216 → 1.1 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
width=${1:-9216}
reps=${REPS:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d "${TMPDIR:-/tmp}/ckbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
settle() { drop_caches; sleep "${SETTLE_SECONDS:-3}"; }
gbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }
timed() {  # prints the wall seconds of "$@"
  local start end
  start=$(date +%s.%N); "$@"; end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
declare -A runs
add() { runs[$1]="${runs[$1]:-} $2"; }

for rep in $(seq "$reps"); do
  for np in 2 1; do  # 1 rank last: its data file is the baselines' input
    rm -rf "$work/run"
    mpirun -np "$np" build/bin/checkpoint_bench --dir "$work/run" --width "$width" \
      --pause-file "$work/go$np" >"$work/out$np" 2>&1 &
    job=$!
    until grep -q "^paused" "$work/out$np" 2>/dev/null; do
      kill -0 $job 2>/dev/null || { cat "$work/out$np"; exit 1; }
      sleep 0.2
    done
    settle
    touch "$work/go$np"
    wait $job
    rm -f "$work/go$np"
    add save$np "$(awk '/save_seconds/ {print $2}' "$work/out$np")"
    add restore$np "$(awk '/restore_seconds/ {print $2}' "$work/out$np")"
    bytes=$(awk '/save_seconds/ {print $4}' "$work/out$np")
  done
  data="$work/run/checkpoints/bench.data-00000-of-00001"
  file_bytes=$(stat -c %s "$data")
  settle
  add dd_read_settled "$(timed dd if="$data" of=/dev/null bs=64M status=none)"

  cat "$data" > /dev/null  # the writers' input comes from the page cache, as ours from memory
  add dd_write "$(timed dd if="$data" of="$work/dd.bin" bs=64M conv=fsync status=none)"
  rm -f "$work/dd.bin"
  add dd_write_direct "$(timed dd if="$data" of="$work/dd.bin" bs=64M oflag=direct conv=fsync status=none)"
  rm -f "$work/dd.bin"
  drop_caches
  add dd_read "$(timed dd if="$data" of=/dev/null bs=64M status=none)"
  drop_caches
  add dd_read_direct "$(timed dd if="$data" of=/dev/null bs=64M iflag=direct status=none)"
  drop_caches
  add read_mem "$(build/bin/checkpoint_bench --read-into-memory "$data" | awk '{print $2}')"

  if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    add torch_save "$(/usr/bin/python3 bench/torch_checkpoint.py save "$work/t.pt" "$width" | awk '{print $2}')"
    drop_caches
    add torch_load "$(/usr/bin/python3 bench/torch_checkpoint.py load "$work/t.pt" "$width" | awk '{print $2}')"
    rm -f "$work/t.pt"
  fi
done
for key in "${!runs[@]}"; do
  # shellcheck disable=SC2086
  declare "$key=$(median ${runs[$key]})"
  echo "$key runs:${runs[$key]}" >&2
done
declare -A save=([1]=$save1 [2]=$save2) restore=([1]=$restore1 [2]=$restore2)
torch_save=${torch_save:-n/a} torch_load=${torch_load:-n/a}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }  # speed of a relative to b, from their seconds
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; disk $(df -h "$work" | awk 'NR==2 {print $1}'); $(date -u +%F)"
echo "checkpoint: 784 -> $width -> $width -> 10 MLP, weights + Adam m + v = $bytes bytes (data file $file_bytes bytes); medians of $reps runs"
echo
echo "| save | seconds | GB/s | vs dd conv=fsync | vs dd oflag=direct | vs torch.save |"
echo "|---|---:|---:|---:|---:|---:|"
printf '| dd conv=fsync of our data file | %.3f | %s | 1.00 | | |\n' "$dd_write" "$(gbps "$file_bytes" "$dd_write")"
printf '| dd oflag=direct conv=fsync | %.3f | %s | | 1.00 | |\n' "$dd_write_direct" "$(gbps "$file_bytes" "$dd_write_direct")"
[ "$torch_save" != n/a ] && printf '| torch.save + fsync | %.3f | %s | | | 1.00 |\n' "$torch_save" "$(gbps "$bytes" "$torch_save")"
for np in 1 2; do
  s=${save[$np]}
  vs_torch=$([ "$torch_save" != n/a ] && ratio "$s" "$torch_save" || echo n/a)
  printf '| our save, %d rank(s) | %.3f | %s | %s | %s | %s |\n' "$np" "$s" "$(gbps "$bytes" "$s")" \
    "$(ratio "$s" "$dd_write")" "$(ratio "$s" "$dd_write_direct")" "$vs_torch"
done
echo
echo "| restore (cold page cache) | seconds | GB/s | vs cold dd read after churn | vs cold dd read, settled | vs dd iflag=direct | vs read into memory | vs torch.load |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '| dd read of our data file (to /dev/null), after page-cache churn | %.3f | %s | 1.00 | | | | |\n' "$dd_read" "$(gbps "$file_bytes" "$dd_read")"
printf '| dd read of our data file, settled | %.3f | %s | | 1.00 | | | |\n' "$dd_read_settled" "$(gbps "$file_bytes" "$dd_read_settled")"
printf '| dd iflag=direct | %.3f | %s | | | 1.00 | | |\n' "$dd_read_direct" "$(gbps "$file_bytes" "$dd_read_direct")"
printf '| read() into a buffer of the file size | %.3f | %s | | | | 1.00 | |\n' "$read_mem" "$(gbps "$file_bytes" "$read_mem")"
[ "$torch_load" != n/a ] && printf '| torch.load | %.3f | %s | | | | | 1.00 |\n' "$torch_load" "$(gbps "$bytes" "$torch_load")"
for np in 1 2; do
  r=${restore[$np]}
  vs_torch=$([ "$torch_load" != n/a ] && ratio "$r" "$torch_load" || echo n/a)
  # Each rank reads an equal share, then broadcasts it to the others.
  printf '| our restore, %d rank(s) | %.3f | %s | %s | %s | %s | %s | %s |\n' "$np" "$r" \
    "$(gbps "$bytes" "$r")" "$(ratio "$r" "$dd_read")" "$(ratio "$r" "$dd_read_settled")" \
    "$(ratio "$r" "$dd_read_direct")" "$(ratio "$r" "$read_mem")" "$vs_torch"
done
