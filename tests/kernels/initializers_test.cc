// GlorotUniform(N) and Fill on the CPU backend: the exact Philox rule, range,
// moments of U(-limit, limit), stream separation, and the conv (N) form.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"

namespace shardtrain::kernels {
namespace {

TEST(GlorotUniformTest, FollowsThePhiloxRule) {
  const int64_t fan_in = 3, fan_out = 5;  // 15 elements: not a multiple of 4
  std::vector<float> w(fan_in * fan_out + 1, 42.0f);
  CreateCpuBackend()->GlorotUniform(1234, 6, w.data(), fan_in, fan_out);
  const float limit = std::sqrt(6.0f / 8.0f);
  for (int64_t i = 0; i < fan_in * fan_out; ++i) {
    const float u = BitsToUniform(PhiloxBits(1234, 0, 6, static_cast<uint64_t>(i)));
    EXPECT_NEAR(w[i], -limit + 2.0f * limit * u, 1e-7) << i;
  }
  EXPECT_EQ(w.back(), 42.0f);  // nothing written past the end
}

TEST(GlorotUniformTest, RangeMeanAndVariance) {
  const int64_t fan_in = 784, fan_out = 512;
  const int64_t n = fan_in * fan_out;
  std::vector<float> w(n);
  CreateCpuBackend()->GlorotUniform(7, 0, w.data(), fan_in, fan_out);
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  double sum = 0.0, sum_sq = 0.0;
  for (float x : w) {
    ASSERT_GE(x, -limit);
    ASSERT_LT(x, limit);
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  // std of the mean is limit / sqrt(3 n) ≈ 9e-4 · limit.
  EXPECT_NEAR(mean, 0.0, 5e-3 * limit);
  EXPECT_NEAR(var, limit * limit / 3.0, 0.01 * limit * limit / 3.0);
}

TEST(GlorotUniformTest, StreamsAndSeedsDiffer) {
  auto backend = CreateCpuBackend();
  std::vector<float> a(64), b(64), c(64), d(64);
  backend->GlorotUniform(1, 0, a.data(), 8, 8);
  backend->GlorotUniform(1, 1, b.data(), 8, 8);
  backend->GlorotUniform(2, 0, c.data(), 8, 8);
  backend->GlorotUniform(1, 0, d.data(), 8, 8);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, d);
}

TEST(GlorotUniformTest, NFormIsBitIdenticalForAMatrix) {
  auto backend = CreateCpuBackend();
  std::vector<float> a(77), b(77);
  backend->GlorotUniform(9, 3, a.data(), 7, 11);
  backend->GlorotUniformN(9, 3, b.data(), 77, 7, 11);
  EXPECT_EQ(a, b);
}

TEST(GlorotUniformTest, NFormUsesConvFansForTheLimit) {
  // A 3x3 conv kernel, in 2, out 4: n = 72, fan_in = 18, fan_out = 36 (Keras).
  std::vector<float> w(73, 42.0f);
  CreateCpuBackend()->GlorotUniformN(5, 2, w.data(), 72, 18, 36);
  const float limit = std::sqrt(6.0f / 54.0f);
  for (int64_t i = 0; i < 72; ++i) {
    const float u = BitsToUniform(PhiloxBits(5, 0, 2, static_cast<uint64_t>(i)));
    EXPECT_NEAR(w[i], -limit + 2.0f * limit * u, 1e-7) << i;
  }
  EXPECT_EQ(w.back(), 42.0f);
}

TEST(FillTest, FillsSmallAndLarge) {
  auto backend = CreateCpuBackend();
  std::vector<float> small(5, 0.0f);
  backend->Fill(small.data(), 2.5f, 5);
  EXPECT_EQ(small, std::vector<float>(5, 2.5f));
  std::vector<float> large(100001, 1.0f);
  backend->Fill(large.data(), -3.0f, 100000);
  EXPECT_EQ(large[0], -3.0f);
  EXPECT_EQ(large[99999], -3.0f);
  EXPECT_EQ(large[100000], 1.0f);
}

}  // namespace
}  // namespace shardtrain::kernels
