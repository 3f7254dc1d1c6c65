// GPU: Philox bits drawn on the device equal the host's bit for bit (the
// basis of CPU/CUDA dropout parity). Skips with a message without a device.
#include <gtest/gtest.h>

#include "common/philox.h"
#include "kernels/cuda/device.h"

namespace shardtrain {
namespace {

TEST(PhiloxDeviceTest, DeviceBitsEqualHostBits) {
  if (kernels::cuda::CudaDeviceCount() == 0) {
    GTEST_SKIP() << "no CUDA device visible: GPU parity runs on the lent GPU machine";
  }
  auto description = kernels::cuda::CudaDeviceDescription(0);
  ASSERT_TRUE(description.ok()) << description.status();
  std::cout << "device 0: " << *description << "\n";
  const uint64_t seed = 0x123456789ABCDEFull, step = 77, first = (1ull << 33) + 5;
  const int64_t n = 100003;
  auto bits = kernels::cuda::PhiloxBitsOnDevice(seed, step, 3, first, n);
  ASSERT_TRUE(bits.ok()) << bits.status();
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ((*bits)[static_cast<size_t>(i)], PhiloxBits(seed, step, 3, first + i)) << "i=" << i;
  }
}

TEST(PhiloxDeviceTest, NoDeviceIsAStatusNotACrash) {
  if (kernels::cuda::CudaDeviceCount() > 0) GTEST_SKIP() << "a device is present";
  auto bits = kernels::cuda::PhiloxBitsOnDevice(1, 0, 0, 0, 16);
  ASSERT_FALSE(bits.ok());
  EXPECT_EQ(bits.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace shardtrain
