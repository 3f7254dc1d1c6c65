#!/usr/bin/env bash
# Stages what the lent GPU machine needs into gpu-stage/ (git-ignored): the
# CUDA tests (the parity table, the CUDA-only tests, Philox, CreateBackend),
# the strict-device tests (CPU tests, run there too), the GPU step benchmark
# with its PyTorch peer, and the shared libraries ldd finds that that machine
# lacks: all but glibc's, the CUDA driver's, cuBLAS's and NCCL's (gpu-check.sh
# finds those in PyTorch's CUDA 13 wheels there, else /usr/local/cuda).
# Binaries are stripped; fails when the tree exceeds 58 MiB (the device tool
# carries 64 MiB with the source tree). The device tool then carries
# gpu-stage/ and runs scripts/gpu-check.sh there (docs/GPU.md).
# Usage: scripts/gpu-stage.sh [BUILD_DIR]   (after the targets below are built)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
stage=gpu-stage
limit_mib=58
tests=(gpu_test parity_cuda_test cuda_backend_test backend_factory_test strict_device_test
       parity_strict_test)
bench="$build/bin/gpu_step_bench"

binaries=()
for name in "${tests[@]}"; do
  [ -x "$build/tests/$name" ] || {
    echo "gpu-stage: $build/tests/$name is not built (cmake --build $build --target $name;" \
         "the CUDA tests need nvcc)" >&2
    exit 1
  }
  binaries+=("$build/tests/$name")
done
[ -x "$bench" ] || { echo "gpu-stage: $bench is not built (needs nvcc)" >&2; exit 1; }

rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/bench" "$stage/lib"
cp "${binaries[@]}" "$stage/bin/"
cp "$bench" bench/torch_gpu_step.py "$stage/bench/"
strip --strip-unneeded "$stage"/bin/* "$stage/bench/gpu_step_bench"

libraries=$(ldd "${binaries[@]}" "$bench")
if grep -q 'not found' <<<"$libraries"; then
  echo "gpu-stage: unresolved libraries here:" >&2
  grep 'not found' <<<"$libraries" | sort -u >&2
  exit 1
fi
awk '$3 ~ /^\// {print $3}' <<<"$libraries" | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux*) ;;  # glibc
    libcuda.so* | libcublas.so* | libcublasLt.so* | libnccl.so*) ;;  # found there
    *) cp -L "$lib" "$stage/lib/" ;;
  esac
done

mib=$(du -sm "$stage" | cut -f1)
echo "gpu-stage: $stage/ is $mib MiB:"
du -sh "$stage"/bin "$stage"/bench "$stage"/lib
if [ "$mib" -gt "$limit_mib" ]; then
  echo "gpu-stage: $stage/ exceeds $limit_mib MiB: the device tool cannot carry it" >&2
  exit 1
fi
