// CUDA device discovery and the first device kernel: Philox bits computed on
// the GPU, used to prove that host and device draw bit-identical random
// streams (common/philox.h). Safe to call on machines without a GPU: the
// functions return FailedPrecondition instead of failing hard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::kernels::cuda {

// Number of visible CUDA devices (0 when the driver reports none).
int CudaDeviceCount();

// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" for device `index`.
StatusOr<std::string> CudaDeviceDescription(int index);

// out[i] = PhiloxBits(seed, step, stream, first_element + i), computed on device 0.
StatusOr<std::vector<uint32_t>> PhiloxBitsOnDevice(uint64_t seed, uint64_t step, uint32_t stream,
                                                   uint64_t first_element, int64_t n);

// Device memory, freed when the buffer goes (move-only; no CUDA types here, so
// code outside kernels/cuda can hold it).
class DeviceBuffer {
 public:
  static StatusOr<DeviceBuffer> Allocate(size_t bytes);
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_) { other.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  explicit DeviceBuffer(void* ptr) : ptr_(ptr) {}
  void* ptr_ = nullptr;
};

// Synchronous host-to-device copy.
Status CopyToDevice(void* device, const void* host, size_t bytes);

}  // namespace shardtrain::kernels::cuda
