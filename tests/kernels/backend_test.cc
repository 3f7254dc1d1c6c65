// Backend construction (kernels/backend.h): CreateBackend returns the CPU
// backend for Device::kCpu and refuses Device::kCuda with Unimplemented.
#include "kernels/backend.h"

#include <gtest/gtest.h>

#include <string>

namespace shardtrain::kernels {
namespace {

TEST(CreateBackendTest, CpuAndCuda) {
  auto cpu = CreateBackend(Device::kCpu);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_EQ((*cpu)->device(), Device::kCpu);
  auto cuda = CreateBackend(Device::kCuda);
  EXPECT_EQ(cuda.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(cuda.status().message().find("--device cpu"), std::string::npos) << cuda.status();
}

}  // namespace
}  // namespace shardtrain::kernels
