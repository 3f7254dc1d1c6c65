// Max/Avg pooling on the CPU backend: PyTorch references with TF "SAME"
// pads (window_ops_reference.py), hand-worked cases for max-gradient ties and
// the SAME average divisor, a double-precision naive reference on random
// inputs, and central-difference gradients of sum(dy · y).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/backend.h"
#include "tests/kernels/test_util.h"
#include "tests/kernels/window_reference.h"

namespace shardtrain::kernels {
namespace {

using testing::ExpectGradientNear;
using testing::Formula;
using testing::NumericGradient;
using testing::RandomVector;
using testing::ReferencePool;
using testing::WeightedSum;

Conv2DGeometry PoolGeometry(int64_t batch, int64_t in_h, int64_t in_w, int64_t c, int64_t window,
                            int64_t stride, bool same) {
  Conv2DGeometry g;
  g.batch = batch, g.in_h = in_h, g.in_w = in_w, g.in_c = c, g.out_c = c;
  g.window_h = window, g.window_w = window, g.stride_h = stride, g.stride_w = stride;
  EXPECT_TRUE(WindowGeometry(same, &g));
  return g;
}

int64_t InSize(const Conv2DGeometry& g) { return g.batch * g.in_h * g.in_w * g.in_c; }
int64_t OutSize(const Conv2DGeometry& g) { return g.batch * g.out_h * g.out_w * g.out_c; }

void ExpectNear(const std::vector<float>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-6 * (1.0 + std::fabs(expected[i]))) << "element " << i;
  }
}

struct PoolResults {
  std::vector<float> max_y, max_dx, avg_y, avg_dx;
};

PoolResults RunAll(const Conv2DGeometry& g, const std::vector<float>& x,
                   const std::vector<float>& dy) {
  auto backend = CreateCpuBackend();
  PoolResults r{std::vector<float>(OutSize(g), -9.0f), std::vector<float>(InSize(g), -9.0f),
                std::vector<float>(OutSize(g), -9.0f), std::vector<float>(InSize(g), -9.0f)};
  backend->MaxPool2DForward(g, x.data(), r.max_y.data());
  backend->MaxPool2DBackward(g, x.data(), dy.data(), r.max_dx.data());
  backend->AvgPool2DForward(g, x.data(), r.avg_y.data());
  backend->AvgPool2DBackward(g, dy.data(), r.avg_dx.data());
  return r;
}

TEST(PoolingTest, MatchesPyTorchWithSymmetricSamePadding) {
  // window 3, stride 2 on 5x5: out 3, one pad row/column each side. Values
  // from window_ops_reference.py (pool_case, tag 3).
  const std::vector<double> kMax3Y = {1.5, 2.5, 2.5, 3,   3, 0, 1.5, 3,   2.5,
                                      2,   3,   2.5, 2.5, 3, 3, 0.5, 1.5, 1};
  const std::vector<double> kMax3Dx = {
      0, 0,   0, 1.5,  0, -0.5, 0, 0, 0, 0, 0, 0, -1,  0, 0, 0, 2, 0, -2, 1, 0, 0,   0, 0,   0, 0,
      0, 0.5, 0, -1.5, 0, -1,   0, 0, 0, 0, 0, 0, 0.5, 0, 0, 0, 1, 0, -1, 0, 0, 1.5, 0, -0.5};
  const std::vector<double> kAvg3Y = {0,         0.25,     0.75,    -1.0 / 12, 1.5,       -1.5,
                                      -7.0 / 12, -1.0 / 3, 1.0 / 6, -2.0 / 3,  11.0 / 12, 1.0 / 12,
                                      1,         -0.375,   2.0 / 3, -1.25,     -0.75,     -0.5};
  Conv2DGeometry g = PoolGeometry(1, 5, 5, 2, 3, 2, true);
  ASSERT_EQ(g.pad_top, 1);
  const PoolResults r = RunAll(g, Formula(50, 7, 3, 13, 0.5f), Formula(18, 5, 1, 7, 0.5f));
  ExpectNear(r.max_y, kMax3Y);
  ExpectNear(r.max_dx, kMax3Dx);
  ExpectNear(r.avg_y, kAvg3Y);
}

TEST(PoolingTest, MatchesPyTorchWithPaddingAtTheBottomRight) {
  // window 2, stride 2 on 5x5: out 3, the one pad row/column at the bottom/right.
  const std::vector<double> kMax2Y = {1.5, 2.5, 2.5, 3,   3,    0, 0,   3,    1,
                                      2,   1.5, 2.5, 2.5, -0.5, 3, 0.5, -2.5, 1};
  const std::vector<double> kAvg2Y = {0,     0.25, 1,   -0.375, 1.75,  -1.25, -1.5, 0.375, -0.5,
                                      -0.25, 0.25, 0.5, 2.25,   -0.75, 0,     0.25, -2.5,  1};
  const std::vector<double> kAvg2Dx = {
      -0.25, 0.375, -0.25,  0.375, 0.125,  -0.125, 0.125, -0.125, -0.75, 0.5,   -0.25, 0.375, -0.25,
      0.375, 0.125, -0.125, 0.125, -0.125, -0.75,  0.5,   0,      -0.25, 0,     -0.25, 0.375, 0.125,
      0.375, 0.125, -0.25,  -0.75, 0,      -0.25,  0,     -0.25,  0.375, 0.125, 0.375, 0.125, -0.25,
      -0.75, 0.5,   0,      0.5,   0,      -0.5,   0.75,  -0.5,   0.75,  0.5,   -0.5};
  Conv2DGeometry g = PoolGeometry(1, 5, 5, 2, 2, 2, true);
  ASSERT_EQ(g.pad_top, 0);
  const PoolResults r = RunAll(g, Formula(50, 7, 3, 13, 0.5f), Formula(18, 5, 1, 7, 0.5f));
  ExpectNear(r.max_y, kMax2Y);
  ExpectNear(r.avg_y, kAvg2Y);
  ExpectNear(r.avg_dx, kAvg2Dx);
}

TEST(PoolingTest, MaxGradientGoesToTheFirstMaximum) {
  // 3x3 image, window 2 stride 1 (valid): four overlapping windows.
  // x = 5 5 1 / 5 5 1 / 0 7 7. Window (0,0) ties at 4 positions: the first,
  // (0,0). Window (0,1) ties at (0,1) and (1,1): (0,1). Windows (1,0) and
  // (1,1) both find the 7 at (2,1) first (row-major), so it collects both.
  const std::vector<float> x = {5, 5, 1, 5, 5, 1, 0, 7, 7};
  const std::vector<float> dy = {1, 10, 100, 1000};
  Conv2DGeometry g = PoolGeometry(1, 3, 3, 1, 2, 1, false);
  const PoolResults r = RunAll(g, x, dy);
  EXPECT_EQ(r.max_y, (std::vector<float>{5, 5, 7, 7}));
  EXPECT_EQ(r.max_dx, (std::vector<float>{1, 10, 0, 0, 0, 0, 0, 1100, 0}));
}

TEST(PoolingTest, SameAverageDividesByRealInputsOnly) {
  // x = 1..9 (3x3), window 2 stride 2 SAME: out 2x2 with real counts 4, 2, 2, 1.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Conv2DGeometry g = PoolGeometry(1, 3, 3, 1, 2, 2, true);
  const PoolResults r = RunAll(g, x, {1, 1, 1, 1});
  EXPECT_EQ(r.avg_y, (std::vector<float>{3, 4.5f, 7.5f, 9}));  // 12/4, 9/2, 15/2, 9/1
  EXPECT_EQ(r.avg_dx, (std::vector<float>{0.25f, 0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 1}));
  EXPECT_EQ(r.max_y, (std::vector<float>{5, 6, 8, 9}));
}

TEST(PoolingTest, GlobalAverageIsTheMeanOverPixels) {
  // GlobalAveragePooling2D = AvgPool with window (h, w), valid.
  Conv2DGeometry g = PoolGeometry(2, 3, 3, 2, 3, 1, false);
  const auto x = RandomVector(InSize(g), 4);
  std::vector<float> y(4);
  CreateCpuBackend()->AvgPool2DForward(g, x.data(), y.data());
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 2; ++c) {
      double sum = 0.0;
      for (int64_t p = 0; p < 9; ++p) sum += x[(n * 9 + p) * 2 + c];
      EXPECT_NEAR(y[n * 2 + c], sum / 9.0, 1e-6);
    }
  }
}

std::vector<Conv2DGeometry> Geometries() {
  return {PoolGeometry(2, 6, 6, 3, 2, 2, false), PoolGeometry(2, 7, 5, 3, 3, 2, true),
          PoolGeometry(3, 5, 5, 2, 3, 1, true), PoolGeometry(1, 8, 8, 4, 3, 3, false),
          PoolGeometry(1, 4, 4, 1, 4, 1, true)};
}

// Distinct values 0.05 apart in random order, so no window ties within the
// finite-difference step and max pooling is differentiable at x.
std::vector<float> DistinctValues(int64_t n, uint32_t seed) {
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = 0.05f * static_cast<float>(i - n / 2);
  std::shuffle(x.begin(), x.end(), std::mt19937(seed));
  return x;
}

TEST(PoolingTest, ForwardMatchesNaiveReference) {
  uint32_t seed = 20;
  for (const Conv2DGeometry& g : Geometries()) {
    const auto x = RandomVector(InSize(g), ++seed);
    const PoolResults r = RunAll(g, x, std::vector<float>(OutSize(g), 1.0f));
    ExpectNear(r.max_y, ReferencePool(g, x, true));
    ExpectNear(r.avg_y, ReferencePool(g, x, false));
  }
}

TEST(PoolingTest, BackwardMatchesNumericGradients) {
  auto backend = CreateCpuBackend();
  uint32_t seed = 40;
  for (const Conv2DGeometry& g : Geometries()) {
    auto x = DistinctValues(InSize(g), ++seed);
    const auto dy = RandomVector(OutSize(g), ++seed);
    const PoolResults r = RunAll(g, x, dy);
    std::vector<float> y(OutSize(g));
    ExpectGradientNear(r.max_dx, NumericGradient(x, [&] {
                         backend->MaxPool2DForward(g, x.data(), y.data());
                         return WeightedSum(dy, y);
                       }));
    ExpectGradientNear(r.avg_dx, NumericGradient(x, [&] {
                         backend->AvgPool2DForward(g, x.data(), y.data());
                         return WeightedSum(dy, y);
                       }));
  }
}

TEST(PoolingTest, ResultsDoNotDependOnThreadCount) {
  Conv2DGeometry g = PoolGeometry(16, 26, 26, 32, 3, 2, true);  // large enough to split
  const auto x = RandomVector(InSize(g), 70), dy = RandomVector(OutSize(g), 71);
  testing::ExpectSameBitsForAnyThreadCount([&] {
    PoolResults r = RunAll(g, x, dy);
    for (const auto* part : {&r.max_dx, &r.avg_y, &r.avg_dx}) {
      r.max_y.insert(r.max_y.end(), part->begin(), part->end());
    }
    return r.max_y;
  });
}

}  // namespace
}  // namespace shardtrain::kernels
