#!/usr/bin/env bash
# Runs on the lent GPU machine, from the repository root, with gpu-stage/
# carried over (scripts/gpu-stage.sh made it here; docs/GPU.md). Prints the
# device, then runs every gpu test (CPU/CUDA parity of each op and of a whole
# reference-MLP training step), then the GPU step benchmark and its PyTorch
# peer. Exits non-zero on any failure or when no GPU is visible (a skip would
# prove nothing there).
set -uo pipefail
cd "$(dirname "$0")/.."
stage=gpu-stage
[ -d "$stage/bin" ] || { echo "gpu-check: no $stage/ (run scripts/gpu-stage.sh here first)"; exit 2; }
export LD_LIBRARY_PATH="$PWD/$stage/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
  { echo "gpu-check: no GPU visible"; exit 2; }
status=0
for test in "$stage"/bin/*; do
  echo "== $(basename "$test")"
  out=$("$test" 2>&1); rc=$?
  echo "$out" | tail -25
  # With a GPU visible, a skipped parity test means CUDA could not use it: a failure.
  if [ $rc -ne 0 ] || grep -qE "SKIPPED \] (CudaParityTest|PhiloxDeviceTest.DeviceBits)" <<<"$out"; then
    status=1
  fi
done
echo "gpu-check: $([ $status -eq 0 ] && echo all gpu tests passed || echo FAILURES)"
echo "== benchmark: our step (CudaBackend ops) vs PyTorch eager, same GPU"
"$stage/bench/gpu_step_bench" || status=1
python3 "$stage/bench/torch_gpu_step.py" || status=1
exit $status
