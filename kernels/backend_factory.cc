// CreateBackend (kernels/backend_factory.h). SHARDTRAIN_WITH_CUDA_BACKEND is
// defined, and kernels/cuda linked, only in builds with CUDA.
#include "kernels/backend_factory.h"

#include <string>

#ifdef SHARDTRAIN_WITH_CUDA_BACKEND
#include "kernels/cuda/device.h"
#endif

namespace shardtrain::kernels {

StatusOr<std::unique_ptr<KernelBackend>> CreateBackend(Device device, int device_index) {
  switch (device) {
    case Device::kCpu:
      return CreateCpuBackend();
    case Device::kCuda:
#ifdef SHARDTRAIN_WITH_CUDA_BACKEND
      return cuda::CreateCudaBackend(device_index);
#else
      (void)device_index;
      return UnimplementedError("built without CUDA; use --device cpu");
#endif
  }
  return InvalidArgumentError("unknown device " + std::to_string(static_cast<int>(device)));
}

int CudaDeviceCount() {
#ifdef SHARDTRAIN_WITH_CUDA_BACKEND
  return cuda::CudaDeviceCount();
#else
  return 0;
#endif
}

bool CudaAvailable() {
#ifdef SHARDTRAIN_WITH_CUDA_BACKEND
  return cuda::CheckCudaUsable().ok();
#else
  return false;
#endif
}

}  // namespace shardtrain::kernels
