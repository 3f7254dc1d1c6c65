// CUDA device discovery: whether CUDA can run here (driver, runtime, devices),
// the CUDA backend's construction behind that check, and the first device
// kernel: Philox bits computed on the GPU, used to prove that host and device
// draw bit-identical random streams (common/philox.h). Safe to call on
// machines without a GPU or driver: the functions return FailedPrecondition
// instead of failing hard.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"

namespace shardtrain::kernels::cuda {

// Number of visible CUDA devices (0 when the driver reports none).
int CudaDeviceCount();

// "13.0" for CUDA's integer version 13000 (major * 1000 + minor * 10).
std::string CudaVersionString(int version);

// "driver CUDA 13.0, runtime 13.0, cuBLAS 13.1.0" (driver 0.0: none loaded).
// Needs no device: it proves the CUDA libraries load.
std::string CudaVersions();

// OK when CUDA can run here. FailedPrecondition "no CUDA device visible; use
// --device cpu" without a driver or a device; FailedPrecondition "the CUDA
// driver supports CUDA <driver>, older than the CUDA runtime <runtime> ..."
// when the driver's major version is older than the runtime's (checked first:
// such a driver reports no devices either) or CUDA reports
// cudaErrorInsufficientDriver (an older minor version it cannot run; newer
// minor versions run on older drivers of the same major since CUDA 11);
// FailedPrecondition "no CUDA device usable (...)" naming any other error.
Status CheckCudaUsable();

// The CUDA backend on device `device` (full fp32 math) once CheckCudaUsable()
// passes; its errors, FailedPrecondition when `device` is not a visible
// device's index, or CudaBackend::Create's.
StatusOr<std::unique_ptr<KernelBackend>> CreateCudaBackend(int device);

// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" for device `index`.
StatusOr<std::string> CudaDeviceDescription(int index);

// out[i] = PhiloxBits(seed, step, stream, first_element + i), computed on device 0.
StatusOr<std::vector<uint32_t>> PhiloxBitsOnDevice(uint64_t seed, uint64_t step, uint32_t stream,
                                                   uint64_t first_element, int64_t n);

}  // namespace shardtrain::kernels::cuda
