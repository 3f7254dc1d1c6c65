// CUDA device discovery, the CUDA backend behind CheckCudaUsable, and the
// Philox device kernel (contract in device.h).
#include "kernels/cuda/device.h"

#include <cstdio>
#include <memory>

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

std::string CudaVersions() {
  int driver = 0, runtime = 0, major = 0, minor = 0, patch = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  cudaGetLastError();
  cublasGetProperty(MAJOR_VERSION, &major);
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  return "driver CUDA " + CudaVersionString(driver) + ", runtime " + CudaVersionString(runtime) +
         ", cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." +
         std::to_string(patch);
}

namespace {

// FailedPrecondition naming the driver's and the runtime's CUDA versions.
Status DriverTooOld(int driver, int runtime, const std::string& why) {
  return FailedPreconditionError("the CUDA driver supports CUDA " + CudaVersionString(driver) +
                                 ", older than the CUDA runtime " + CudaVersionString(runtime) +
                                 " this binary uses (" + why +
                                 "); update the driver or use --device cpu");
}

}  // namespace

Status CheckCudaUsable() {
  int driver = 0, runtime = 0;
  // cudaDriverGetVersion reports 0 when no driver is installed.
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  cudaGetLastError();
  // Since CUDA 11 a runtime runs on an older driver of its major version
  // (minor version compatibility); CUDA itself refuses what it cannot run.
  if (driver > 0 && driver / 1000 < runtime / 1000) {
    return DriverTooOld(driver, runtime, "a runtime needs a driver of its major version");
  }
  int count = 0;
  const cudaError_t error = driver > 0 ? cudaGetDeviceCount(&count) : cudaErrorNoDevice;
  cudaGetLastError();  // clear the sticky error
  if (error == cudaErrorInsufficientDriver) {
    return DriverTooOld(driver, runtime, std::string("CUDA: ") + cudaGetErrorString(error));
  }
  if (error != cudaSuccess && error != cudaErrorNoDevice) {
    return FailedPreconditionError(std::string("no CUDA device usable (cudaGetDeviceCount: ") +
                                   cudaGetErrorString(error) + "); use --device cpu");
  }
  if (count == 0) return FailedPreconditionError("no CUDA device visible; use --device cpu");
  return OkStatus();
}

StatusOr<std::unique_ptr<KernelBackend>> CreateCudaBackend(int device) {
  RETURN_IF_ERROR(CheckCudaUsable());
  const int count = CudaDeviceCount();
  if (device < 0 || device >= count) {
    return FailedPreconditionError(
        "node-local rank " + std::to_string(device) + " has no CUDA device of its own (" +
        std::to_string(count) + " visible); start at most " + std::to_string(count) +
        " ranks per node, or use --device cpu");
  }
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
  uint32_t* out = nullptr;
  RETURN_IF_CUDA_ERROR(cudaMalloc(&out, bytes));
  std::unique_ptr<uint32_t, decltype(&cudaFree)> owner(out, &cudaFree);
  constexpr int kThreads = 256;
  int64_t blocks = (n + kThreads - 1) / kThreads;
  PhiloxBitsKernel<<<static_cast<unsigned>(blocks), kThreads>>>(seed, step, stream, first_element,
                                                                n, out);
  RETURN_IF_CUDA_ERROR(cudaGetLastError());
  std::vector<uint32_t> host(static_cast<size_t>(n));
  RETURN_IF_CUDA_ERROR(cudaMemcpy(host.data(), out, bytes, cudaMemcpyDeviceToHost));
  return host;
}

}  // namespace shardtrain::kernels::cuda
