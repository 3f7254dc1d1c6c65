// Scratch device memory owned by one CudaBackend (the im2col matrices of
// Conv2D): grown on demand to the largest size asked for, never shrunk, freed
// with the owner. Growing frees the old block first; cudaFree waits for the
// device, so kernels still reading it finish before it goes. Not thread-safe
// (one backend per worker thread).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace shardtrain::kernels::cuda {

class DeviceWorkspace {
 public:
  DeviceWorkspace() = default;
  DeviceWorkspace(const DeviceWorkspace&) = delete;
  DeviceWorkspace& operator=(const DeviceWorkspace&) = delete;
  ~DeviceWorkspace() {
    if (data_ != nullptr) cudaFree(data_);  // teardown: nothing to report to
  }

  // Makes floats() hold at least `bytes`. On failure the workspace is empty
  // and the CUDA error (cudaErrorMemoryAllocation) is returned.
  cudaError_t Reserve(size_t bytes) {
    if (bytes <= bytes_) return cudaSuccess;
    if (data_ != nullptr) {
      const cudaError_t freed = cudaFree(data_);
      data_ = nullptr;
      bytes_ = 0;
      if (freed != cudaSuccess) return freed;
    }
    const cudaError_t error = cudaMalloc(&data_, bytes);
    if (error != cudaSuccess) {
      data_ = nullptr;
      cudaGetLastError();  // clear it, or the next launch check would report it again
      return error;
    }
    bytes_ = bytes;
    return cudaSuccess;
  }

  float* floats() const { return static_cast<float*>(data_); }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace shardtrain::kernels::cuda
