// Dropout on the CPU backend: the mask is exactly the Philox rule of
// backend.h, depends only on the global element index, keeps ≈ 1 - rate, and
// the backward matches finite differences.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

using testing::ExpectGradientNear;
using testing::NumericGradient;
using testing::RandomVector;
using testing::WeightedSum;

std::vector<uint8_t> Mask(const DropoutKey& key, float rate, int64_t n) {
  std::vector<float> x(n, 1.0f), y(n);
  std::vector<uint8_t> mask(n, 7);
  CreateCpuBackend()->DropoutForward(key, rate, x.data(), y.data(), mask.data(), n);
  return mask;
}

TEST(DropoutTest, ThresholdIsRateTimesTwoToThe24) {
  EXPECT_EQ(DropoutThreshold(0.0f), 0u);
  EXPECT_EQ(DropoutThreshold(0.5f), 8388608u);
  EXPECT_EQ(DropoutThreshold(0.25f), 4194304u);
}

TEST(DropoutTest, MaskFollowsPhiloxRuleAtUnalignedOffset) {
  const DropoutKey key{.seed = 0x123456789abcdefull, .step = 17, .layer = 2, .first_element = 7};
  const float rate = 0.4f;
  const int64_t n = 103;
  auto x = RandomVector(n, 41);
  std::vector<float> y(n);
  std::vector<uint8_t> mask(n);
  CreateCpuBackend()->DropoutForward(key, rate, x.data(), y.data(), mask.data(), n);
  const float scale = 1.0f / (1.0f - rate);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = PhiloxBits(key.seed, key.step, key.layer, key.first_element + i);
    const bool keep = (bits >> 8) >= DropoutThreshold(rate);
    ASSERT_EQ(mask[i], keep ? 1 : 0) << i;
    ASSERT_EQ(y[i], keep ? x[i] * scale : 0.0f) << i;
  }
}

TEST(DropoutTest, MaskDependsOnlyOnGlobalElementIndex) {
  const DropoutKey whole{.seed = 42, .step = 3, .layer = 1, .first_element = 0};
  auto full = Mask(whole, 0.5f, 64);
  auto a = Mask(DropoutKey{42, 3, 1, 0}, 0.5f, 32);
  auto b = Mask(DropoutKey{42, 3, 1, 32}, 0.5f, 32);
  a.insert(a.end(), b.begin(), b.end());
  EXPECT_EQ(full, a);
  // An unaligned split: [5, 18) ++ [18, 69) == [5, 69).
  auto full5 = Mask(DropoutKey{42, 3, 1, 5}, 0.5f, 64);
  auto c = Mask(DropoutKey{42, 3, 1, 5}, 0.5f, 13);
  auto d = Mask(DropoutKey{42, 3, 1, 18}, 0.5f, 51);
  c.insert(c.end(), d.begin(), d.end());
  EXPECT_EQ(full5, c);
}

TEST(DropoutTest, SeedStepAndLayerChangeTheMask) {
  auto base = Mask(DropoutKey{1, 1, 1, 0}, 0.5f, 256);
  EXPECT_NE(base, Mask(DropoutKey{2, 1, 1, 0}, 0.5f, 256));
  EXPECT_NE(base, Mask(DropoutKey{1, 2, 1, 0}, 0.5f, 256));
  EXPECT_NE(base, Mask(DropoutKey{1, 1, 2, 0}, 0.5f, 256));
  EXPECT_EQ(base, Mask(DropoutKey{1, 1, 1, 0}, 0.5f, 256));
}

TEST(DropoutTest, KeptFractionOverOneMillionElements) {
  // Large enough for the OpenMP path; also checked element by element.
  const int64_t n = 1 << 20;
  const float rate = 0.3f;
  const DropoutKey key{.seed = 99, .step = 5, .layer = 0, .first_element = 3};
  auto mask = Mask(key, rate, n);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    kept += mask[i];
    if (i % 4099 == 0) {
      const uint32_t bits = PhiloxBits(key.seed, key.step, key.layer, key.first_element + i);
      ASSERT_EQ(mask[i], (bits >> 8) >= DropoutThreshold(rate) ? 1 : 0) << i;
    }
  }
  // Binomial std is sqrt(0.21 / n) ≈ 4.5e-4; allow 5 sigma.
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.7, 2.3e-3);
}

TEST(DropoutTest, RateZeroCopiesAndKeepsAll) {
  std::vector<float> x = {1, -2, 3};
  std::vector<float> y(3);
  std::vector<uint8_t> mask(3, 0);
  CreateCpuBackend()->DropoutForward(DropoutKey{}, 0.0f, x.data(), y.data(), mask.data(), 3);
  EXPECT_EQ(y, x);
  EXPECT_EQ(mask, (std::vector<uint8_t>{1, 1, 1}));
}

TEST(DropoutTest, InPlaceForwardAndExactBackward) {
  auto backend = CreateCpuBackend();
  const int64_t n = 50;
  auto x = RandomVector(n, 51);
  const auto original = x;
  std::vector<uint8_t> mask(n);
  backend->DropoutForward(DropoutKey{7, 8, 9, 10}, 0.5f, x.data(), x.data(), mask.data(), n);
  auto dy = RandomVector(n, 52);
  std::vector<float> dx(n);
  backend->DropoutBackward(0.5f, mask.data(), dy.data(), dx.data(), n);
  int kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    kept += mask[i];
    EXPECT_EQ(x[i], mask[i] ? original[i] * 2.0f : 0.0f);
    EXPECT_EQ(dx[i], mask[i] ? dy[i] * 2.0f : 0.0f);
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, n);
}

TEST(DropoutTest, BackwardMatchesFiniteDifferences) {
  auto backend = CreateCpuBackend();
  const int64_t n = 24;
  const float rate = 0.25f;
  const DropoutKey key{3, 4, 5, 6};
  auto x = RandomVector(n, 61);
  const auto r = RandomVector(n, 62);
  std::vector<float> y(n);
  std::vector<uint8_t> mask(n);
  auto objective = [&] {
    backend->DropoutForward(key, rate, x.data(), y.data(), mask.data(), n);
    return WeightedSum(r, y);
  };
  objective();
  std::vector<float> dx(n);
  backend->DropoutBackward(rate, mask.data(), r.data(), dx.data(), n);
  ExpectGradientNear(dx, NumericGradient(x, objective));
}

}  // namespace
}  // namespace shardtrain::kernels
