// CreateBackend: the backend for a configured Device. Its own target
// (shardtrain_backend_factory) because the CUDA branch links kernels/cuda,
// which itself depends on shardtrain_kernels; code that only needs the CPU
// backend calls CreateCpuBackend() (kernels/backend.h) instead.
#pragma once

#include <memory>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::kernels {

// Device::kCpu: the CPU backend. Device::kCuda: the CUDA backend on visible
// device `device_index` (a rank's node-local index; CUDA_VISIBLE_DEVICES picks
// the set) when this build has CUDA and that device is visible; otherwise
// FailedPrecondition "no CUDA device visible; use --device cpu", a
// FailedPrecondition naming the index and the visible count, one naming the
// driver's and the runtime's CUDA versions when the driver is too old, or
// Unimplemented "built without CUDA; use --device cpu".
StatusOr<std::unique_ptr<KernelBackend>> CreateBackend(Device device, int device_index = 0);

// True when this build has CUDA and CUDA can run here (a driver new enough
// and at least one visible device): what `--device auto` resolves by, a fact
// of the node, the same for every rank on it.
bool CudaAvailable();
// Visible CUDA devices (0 without CUDA).
int CudaDeviceCount();

}  // namespace shardtrain::kernels
