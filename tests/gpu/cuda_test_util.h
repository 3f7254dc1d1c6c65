// Shared by the GPU parity tests (cuda_backend_test.cc, cuda_cnn_parity_test.cc):
// DeviceVector (a device copy of a host vector, freed at scope exit),
// RelativeError, and the CudaParityTest fixture, which holds a CPU backend
// (the specification) and a CudaBackend on device 0, skips with a message
// when no device is visible, and checks at teardown that the GPU recorded
// no error.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device.h"

namespace shardtrain::kernels::testing {

// A device copy of a host vector, freed at scope exit; Host() copies it back.
template <typename T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& host) : size_(host.size()) {
    EXPECT_EQ(cudaMalloc(&ptr_, Bytes() + 1), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), Bytes(), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceVector(size_t size) : DeviceVector(std::vector<T>(size)) {}
  ~DeviceVector() { cudaFree(ptr_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  T* get() { return ptr_; }
  std::vector<T> Host() const {
    std::vector<T> out(size_);
    EXPECT_EQ(cudaMemcpy(out.data(), ptr_, Bytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }

 private:
  size_t Bytes() const { return size_ * sizeof(T); }
  T* ptr_ = nullptr;
  size_t size_;
};

// max |a - b| / max(max |b|, tiny) over the vectors.
inline double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::CudaDeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA device visible: CPU/CUDA parity runs on the lent GPU machine "
                      "(scripts/gpu-check.sh)";
    }
    auto backend = cuda::CudaBackend::Create(0, /*tf32=*/false);
    ASSERT_TRUE(backend.ok()) << backend.status();
    gpu_ = std::move(*backend);
  }
  void TearDown() override {
    if (gpu_ != nullptr) {
      Status status = gpu_->Synchronize();
      EXPECT_TRUE(status.ok()) << status;
    }
  }
  std::unique_ptr<KernelBackend> cpu_ = CreateCpuBackend();
  std::unique_ptr<cuda::CudaBackend> gpu_;
};

}  // namespace shardtrain::kernels::testing
