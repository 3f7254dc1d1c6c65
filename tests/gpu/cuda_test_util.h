// Shared by the CUDA-only tests (cuda_backend_test.cc, parity_cuda_test.cc):
// the CudaTest fixture holds a CPU backend (the specification) and a
// CudaBackend on device 0, skips with a message when no device is visible,
// moves host vectors to and from the device through the memory API only, and
// checks at teardown that the GPU recorded no error.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device.h"

namespace shardtrain::kernels::testing {

// max |a - b| / max(max |b|, tiny) over the vectors.
inline double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return diff / scale;
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::CudaDeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA device visible: the CUDA tests run on the lent GPU machine "
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
    buffers_.clear();  // before the backend that made them
  }

  // A device copy of `host`, freed with the fixture.
  template <typename T>
  T* Upload(const std::vector<T>& host) {
    T* device = Zeros<T>(host.size());
    gpu_->CopyToDevice(device, host.data(), Bytes<T>(host.size()));
    EXPECT_TRUE(gpu_->Synchronize().ok());  // `host` may go before the copy ran otherwise
    return device;
  }
  // n zero elements on the device.
  template <typename T>
  T* Zeros(size_t n) {
    auto buffer = gpu_->AllocateDevice(Bytes<T>(n) + 4, "test buffer");
    EXPECT_TRUE(buffer.ok()) << buffer.status();
    if (!buffer.ok()) return nullptr;
    buffers_.push_back(std::move(*buffer));
    const std::vector<uint8_t> zeros(static_cast<size_t>(Bytes<T>(n)), 0);
    gpu_->CopyToDevice(buffers_.back().data(), zeros.data(), Bytes<T>(n));
    EXPECT_TRUE(gpu_->Synchronize().ok());
    return buffers_.back().as<T>();
  }
  // n elements at `device`, after the work enqueued so far.
  template <typename T>
  std::vector<T> Download(const T* device, size_t n) {
    std::vector<T> host(n);
    gpu_->CopyToHost(host.data(), device, Bytes<T>(n));
    EXPECT_TRUE(gpu_->Synchronize().ok());
    return host;
  }

  std::unique_ptr<KernelBackend> cpu_ = CreateCpuBackend();
  std::unique_ptr<cuda::CudaBackend> gpu_;

 private:
  template <typename T>
  static int64_t Bytes(size_t n) {
    return static_cast<int64_t>(n * sizeof(T));
  }
  std::deque<DeviceBuffer> buffers_;
};

}  // namespace shardtrain::kernels::testing
