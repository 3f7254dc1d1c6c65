#!/usr/bin/env bash
# Fails when an #include points up the dependency table of DESIGN.md §2:
# each folder may include only the folders listed for it (and itself).
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 2

# folder -> project folders it may include (besides itself)
declare -A allowed=(
  [common]=""
  [kernels]="common"
  [storage]="common proto"
  [coordinator]="common proto storage"
  [worker]="common proto kernels storage coordinator/rpc"
  [serving]="common proto kernels storage"
  [cli]="common proto kernels storage coordinator worker serving"
  [bench]="common proto kernels storage coordinator worker serving"
)
# Third-party headers that only some folders may include.
declare -A forbidden_system=(
  [common]="mpi.h nccl.h cuda_runtime.h cublas_v2.h"
  [kernels]="mpi.h nccl.h"
  [storage]="mpi.h nccl.h cuda_runtime.h cublas_v2.h"
  [coordinator]="mpi.h nccl.h cuda_runtime.h cublas_v2.h"
  [serving]="mpi.h nccl.h"
)
failures=0
quoted_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)"'
system_re='^[[:space:]]*#[[:space:]]*include[[:space:]]*<([^>]*)>'
for folder in "${!allowed[@]}"; do
  [ -d "$folder" ] || continue
  # One grep per folder: "file:#include ..." for every include line.
  while IFS= read -r hit; do
    file=${hit%%:*}
    line=${hit#*:}
    if [[ $line =~ $quoted_re ]]; then
      include=${BASH_REMATCH[1]}
      target=${include%%/*}
      [ "$target" = "$include" ] && continue   # same-folder relative include
      [ "$target" = "$folder" ] && continue
      ok=0
      for dep in ${allowed[$folder]}; do
        case "$include" in "$dep"/*) ok=1 ;; esac
      done
      if [ $ok -eq 0 ]; then
        echo "layering: $file includes \"$include\": $folder may not depend on $target"
        failures=$((failures + 1))
      fi
    elif [[ $line =~ $system_re ]]; then
      system=${BASH_REMATCH[1]}
      for bad in ${forbidden_system[$folder]:-}; do
        if [ "$system" = "$bad" ]; then
          echo "layering: $file includes <$system>, which $folder may not use"
          failures=$((failures + 1))
        fi
      done
      # CUDA headers only in kernels/cuda (and worker/comm/nccl_*).
      case "$system" in cuda_runtime.h|cublas_v2.h|cublasLt.h)
        case "$file" in kernels/cuda/*|worker/comm/nccl_*) ;; *)
          echo "layering: $file includes <$system>; CUDA headers belong in kernels/cuda"
          failures=$((failures + 1)) ;;
        esac ;;
      esac
    fi
  done < <(grep -rHE --include='*.h' --include='*.cc' --include='*.cu' --include='*.cuh' \
             '^[[:space:]]*#[[:space:]]*include' "$folder")
done
if [ $failures -gt 0 ]; then
  echo "layering: $failures include(s) point up the dependency table (DESIGN.md §2)"
  exit 1
fi
echo "layering: all includes point down the dependency table"
