// CreateBackend: the backend for a configured Device. Its own target
// (shardtrain_backend_factory) because the CUDA branch links kernels/cuda,
// which itself depends on shardtrain_kernels; code that only needs the CPU
// backend calls CreateCpuBackend() (kernels/backend.h) instead.
#pragma once

#include <memory>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::kernels {

// Device::kCpu: the CPU backend. Device::kCuda: the CUDA backend on device 0
// (CUDA_VISIBLE_DEVICES picks it) when this build has CUDA and a device is
// visible; otherwise FailedPrecondition "no CUDA device visible; use --device
// cpu", FailedPrecondition naming the driver's and the runtime's CUDA versions
// when the driver is too old, or Unimplemented "built without CUDA; use
// --device cpu".
StatusOr<std::unique_ptr<KernelBackend>> CreateBackend(Device device);

}  // namespace shardtrain::kernels
