#!/usr/bin/env bash
# Stages what the lent GPU machine needs into gpu-stage/ (git-ignored): the gpu
# test binaries and the GPU benchmark built here (+ the PyTorch peer script),
# and the shared libraries they load that are neither
# CUDA's (that machine has /usr/local/cuda) nor glibc's. The device tool then
# carries gpu-stage/ and runs scripts/gpu-check.sh there (docs/GPU.md).
# Usage: scripts/gpu-stage.sh [BUILD_DIR]   (after ./scripts/test.sh built build/)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
stage=gpu-stage
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/bench" "$stage/lib"
binaries=()
for name in gpu_test cuda_backend_test; do
  path=$(find "$build" -name "$name" -type f -perm -u+x | head -1)
  [ -n "$path" ] || { echo "gpu-stage: $name not built in $build (is nvcc installed?)" >&2; exit 1; }
  cp "$path" "$stage/bin/" && binaries+=("$path")
done
[ -x "$build/bin/gpu_step_bench" ] || { echo "gpu-stage: gpu_step_bench not built" >&2; exit 1; }
cp "$build/bin/gpu_step_bench" bench/torch_gpu_step.py "$stage/bench/"
binaries+=("$build/bin/gpu_step_bench")
ldd "${binaries[@]}" | awk '$3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  case "$lib" in
    /usr/local/cuda*|*/libc.so*|*/libm.so*|*/libdl.so*|*/libpthread.so*|*/librt.so*|*/ld-linux*) ;;
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done
du -sh "$stage"
