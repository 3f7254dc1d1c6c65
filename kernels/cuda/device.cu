#include "kernels/cuda/device.h"

#include <cstdio>

#include "common/philox.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_status.h"

namespace shardtrain::kernels::cuda {
namespace {

__global__ void PhiloxBitsKernel(uint64_t seed, uint64_t step, uint32_t stream,
                                 uint64_t first_element, int64_t n, uint32_t* out) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = PhiloxBits(seed, step, stream, first_element + static_cast<uint64_t>(i));
}

}  // namespace

StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  void* ptr = nullptr;
  RETURN_IF_CUDA_ERROR(cudaMalloc(&ptr, bytes > 0 ? bytes : 1));
  return DeviceBuffer(ptr);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = other.ptr_;
    other.ptr_ = nullptr;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

Status CopyToDevice(void* device, const void* host, size_t bytes) {
  RETURN_IF_CUDA_ERROR(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice));
  return OkStatus();
}

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return count;
}

std::string CudaVersionString(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

Status CheckCudaUsable() {
  int driver = 0, runtime = 0;
  // cudaDriverGetVersion reports 0 when no driver is installed.
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  cudaGetLastError();
  if (driver > 0 && driver < runtime) {
    return FailedPreconditionError("the CUDA driver supports CUDA " + CudaVersionString(driver) +
                                   ", older than the CUDA runtime " + CudaVersionString(runtime) +
                                   " this binary uses; update the driver or use --device cpu");
  }
  if (driver == 0 || CudaDeviceCount() == 0) {
    return FailedPreconditionError("no CUDA device visible; use --device cpu");
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<KernelBackend>> CreateCudaBackend(int device) {
  RETURN_IF_ERROR(CheckCudaUsable());
  ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> backend, CudaBackend::Create(device, false));
  return std::unique_ptr<KernelBackend>(std::move(backend));
}

StatusOr<std::string> CudaDeviceDescription(int index) {
  cudaDeviceProp prop{};
  RETURN_IF_CUDA_ERROR(cudaGetDeviceProperties(&prop, index));
  char memory[32];
  snprintf(memory, sizeof(memory), "%.1f GiB",
           static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::string(prop.name) + ", sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ", " + memory;
}

StatusOr<std::vector<uint32_t>> PhiloxBitsOnDevice(uint64_t seed, uint64_t step, uint32_t stream,
                                                   uint64_t first_element, int64_t n) {
  if (n <= 0) return std::vector<uint32_t>();
  if (CudaDeviceCount() == 0) {
    return FailedPreconditionError("PhiloxBitsOnDevice: no CUDA device is visible");
  }
  const size_t bytes = static_cast<size_t>(n) * sizeof(uint32_t);
  ASSIGN_OR_RETURN(DeviceBuffer out, DeviceBuffer::Allocate(bytes));
  constexpr int kThreads = 256;
  int64_t blocks = (n + kThreads - 1) / kThreads;
  PhiloxBitsKernel<<<static_cast<unsigned>(blocks), kThreads>>>(
      seed, step, stream, first_element, n, out.as<uint32_t>());
  RETURN_IF_CUDA_ERROR(cudaGetLastError());
  std::vector<uint32_t> host(static_cast<size_t>(n));
  RETURN_IF_CUDA_ERROR(cudaMemcpy(host.data(), out.get(), bytes, cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace shardtrain::kernels::cuda
