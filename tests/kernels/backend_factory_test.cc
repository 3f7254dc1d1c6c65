// CreateBackend (kernels/backend_factory.h): the CPU backend for Device::kCpu;
// for Device::kCuda the CUDA backend where a device is visible (skipped
// then), else the errors a user sees: FailedPrecondition "no CUDA device
// visible; use --device cpu" (or the driver/runtime version mismatch) in CUDA
// builds, Unimplemented "built without CUDA; use --device cpu" in the others.
#include "kernels/backend_factory.h"

#include <gtest/gtest.h>

#include <string>

namespace shardtrain::kernels {
namespace {

TEST(CreateBackendTest, CpuIsTheCpuBackend) {
  auto cpu = CreateBackend(Device::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_EQ((*cpu)->device(), Device::kCpu);
}

#ifdef SHARDTRAIN_WITH_CUDA_BACKEND
TEST(CreateBackendTest, CudaWithoutADeviceIsFailedPrecondition) {
  auto cuda = CreateBackend(Device::kCuda);
  if (cuda.ok()) {
    EXPECT_EQ((*cuda)->name(), "cuda");
    EXPECT_EQ((*cuda)->device(), Device::kCuda);
    GTEST_SKIP() << "a CUDA device is visible";
  }
  EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition) << cuda.status();
  const std::string message(cuda.status().message());
  if (message.find("older than the CUDA runtime") != std::string::npos) {
    GTEST_SKIP() << "this machine's driver is too old: " << message;
  }
  EXPECT_EQ(message, "no CUDA device visible; use --device cpu");
}

TEST(CreateBackendTest, ADeviceIndexBeyondTheVisibleOnesIsFailedPrecondition) {
  if (!CudaAvailable()) GTEST_SKIP() << "CUDA cannot run here";
  auto cuda = CreateBackend(Device::kCuda, 4096);
  EXPECT_EQ(cuda.status().code(), StatusCode::kFailedPrecondition) << cuda.status();
  EXPECT_NE(cuda.status().message().find("node-local rank 4096 has no CUDA device"),
            std::string::npos)
      << cuda.status();
}
#else
TEST(CreateBackendTest, CudaInABuildWithoutCudaIsUnimplemented) {
  auto cuda = CreateBackend(Device::kCuda);
  EXPECT_EQ(cuda.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(cuda.status().message(), "built without CUDA; use --device cpu");
  EXPECT_FALSE(CudaAvailable());
}
#endif

}  // namespace
}  // namespace shardtrain::kernels
