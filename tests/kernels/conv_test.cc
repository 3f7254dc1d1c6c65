// Conv2DForward/Backward on the CPU backend: hand-worked and PyTorch
// reference cases (window_ops_reference.py), a double-precision naive
// reference on random inputs over several geometries, central-difference
// gradients of sum(dy · y), and thread-count independence.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
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
using testing::ReferenceConv;
using testing::WeightedSum;

Conv2DGeometry Geometry(int64_t batch, int64_t in_h, int64_t in_w, int64_t in_c, int64_t out_c,
                        int64_t window_h, int64_t window_w, int64_t stride, bool same) {
  Conv2DGeometry g;
  g.batch = batch, g.in_h = in_h, g.in_w = in_w, g.in_c = in_c, g.out_c = out_c;
  g.window_h = window_h, g.window_w = window_w, g.stride_h = stride, g.stride_w = stride;
  EXPECT_TRUE(WindowGeometry(same, &g));
  return g;
}

int64_t InSize(const Conv2DGeometry& g) { return g.batch * g.in_h * g.in_w * g.in_c; }
int64_t OutSize(const Conv2DGeometry& g) { return g.batch * g.out_h * g.out_w * g.out_c; }
int64_t KernelSize(const Conv2DGeometry& g) { return g.window_h * g.window_w * g.in_c * g.out_c; }

void ExpectNear(const std::vector<float>& actual, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tol * (1.0 + std::fabs(expected[i]))) << "element " << i;
  }
}

TEST(Conv2DTest, HandWorkedOnesKernel) {
  // x = 1..9 as a 3x3 image, kernel 2x2 of ones: each output is its window's sum.
  const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 1, 1, 1};
  auto backend = CreateCpuBackend();
  Conv2DGeometry valid = Geometry(1, 3, 3, 1, 1, 2, 2, 1, false);
  std::vector<float> y(4, -99.0f);
  backend->Conv2DForward(valid, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(y, (std::vector<float>{12, 16, 24, 28}));  // 1+2+4+5, 2+3+5+6, ...
  // SAME stride 2: out 2, the one pad row/column at the bottom/right.
  Conv2DGeometry same = Geometry(1, 3, 3, 1, 1, 2, 2, 2, true);
  const float b = 0.5f;
  backend->Conv2DForward(same, x.data(), w.data(), &b, y.data());
  EXPECT_EQ(y, (std::vector<float>{12.5f, 9.5f, 15.5f, 9.5f}));  // 1+2+4+5, 3+6, 7+8, 9
}

TEST(Conv2DTest, MatchesPyTorchWithAsymmetricSamePadding) {
  // Values from window_ops_reference.py (conv_case).
  const std::vector<double> kConvY = {-1.5625, 0.3125, 1.25, -1.21875, 0, -0.4375, 1.5, -2.21875};
  const std::vector<double> kConvDx = {
      0.4375,  0.5,     0.5625,  -0.5,   0.0625, 0.0625, 0.375,   -0.25,   -0.3125, -0.25,  0.375,
      0.4375,  0.0625,  0.0625,  0.5625, 0.5,    0.0625, -0.0625, -0.1875, -0.3125, -1.375, -0.875,
      -0.8125, -0.1875, -0.5625, -0.75,  0.75,   0.5625, 1,       0.9375,  -0.8125, -0.6875};
  const std::vector<double> kConvDw = {
      -2.625, 0.625,  1.625, 1,     -1,     0,    1.875,  -1,    1.375, 1,     -0.75, 0,
      -3,     0.875,  2.625, -1.5,  -1.375, 0.25, -2.625, 0.625, 0.875, 1.25,  -1.25, 0.25,
      1.25,   -0.625, 0,     -0.75, 0.125,  0.5,  -1.125, 0.375, 0.625, -1.25, -0.25, 0.5};
  const std::vector<double> kConvDb = {-1.5, 1};
  Conv2DGeometry g = Geometry(1, 4, 4, 2, 2, 3, 3, 2, true);
  ASSERT_EQ(g.pad_top, 0);  // total pad 1: at the bottom/right
  const auto x = Formula(32, 7, 3, 11, 0.25f), w = Formula(36, 5, 1, 9, 0.125f);
  const auto dy = Formula(8, 3, 2, 7, 0.5f);
  const std::vector<float> b = {0.5f, -1.0f};
  auto backend = CreateCpuBackend();
  std::vector<float> y(8), dx(32), dw(36), db(2);
  backend->Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
  backend->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  ExpectNear(y, kConvY, 1e-6);
  ExpectNear(dx, kConvDx, 1e-6);
  ExpectNear(dw, kConvDw, 1e-6);
  ExpectNear(db, kConvDb, 1e-6);
}

// Geometries covering valid/same, strides, 1x1, rectangular windows and batches.
std::vector<Conv2DGeometry> Geometries() {
  return {Geometry(2, 7, 6, 3, 4, 3, 3, 1, false), Geometry(2, 7, 6, 3, 4, 3, 3, 2, true),
          Geometry(3, 5, 5, 4, 6, 1, 1, 1, false), Geometry(1, 6, 7, 2, 3, 2, 4, 3, true),
          Geometry(2, 8, 8, 2, 5, 5, 5, 1, true),  Geometry(1, 9, 9, 3, 2, 1, 1, 2, false)};
}

TEST(Conv2DTest, ForwardMatchesNaiveReference) {
  auto backend = CreateCpuBackend();
  uint32_t seed = 10;
  for (const Conv2DGeometry& g : Geometries()) {
    const auto x = RandomVector(InSize(g), ++seed), w = RandomVector(KernelSize(g), ++seed);
    const auto b = RandomVector(g.out_c, ++seed);
    std::vector<float> y(OutSize(g), -99.0f);
    backend->Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
    ExpectNear(y, ReferenceConv(g, x, w, b.data()), 1e-5);
    backend->Conv2DForward(g, x.data(), w.data(), nullptr, y.data());
    ExpectNear(y, ReferenceConv(g, x, w, nullptr), 1e-5);
  }
}

TEST(Conv2DTest, LargeBatchMatchesNaiveReference) {
  // Big enough to be split over threads and chunks of the batch.
  Conv2DGeometry g = Geometry(37, 12, 12, 3, 16, 3, 3, 1, true);
  const auto x = RandomVector(InSize(g), 1), w = RandomVector(KernelSize(g), 2);
  const auto b = RandomVector(g.out_c, 3);
  std::vector<float> y(OutSize(g));
  CreateCpuBackend()->Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
  ExpectNear(y, ReferenceConv(g, x, w, b.data()), 1e-5);
}

TEST(Conv2DTest, ChunkedBackwardMatchesReference) {
  // Several chunks of the batch and dW partial sums, with im2col (3x3 SAME,
  // stride 2) and without it (1x1 stride 1).
  for (const Conv2DGeometry& g :
       {Geometry(19, 20, 20, 6, 8, 3, 3, 2, true), Geometry(40, 32, 32, 16, 8, 1, 1, 1, false)}) {
    const auto x = RandomVector(InSize(g), 11), w = RandomVector(KernelSize(g), 12);
    const auto dy = RandomVector(OutSize(g), 13);
    std::vector<float> dx(InSize(g)), dw(KernelSize(g)), db(g.out_c);
    CreateCpuBackend()->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(),
                                       db.data());
    const testing::ConvGradients expected = testing::ReferenceConvGradients(g, x, w, dy);
    ExpectNear(dx, expected.dx, 1e-5);
    ExpectNear(dw, expected.dw, 1e-4);  // sums over thousands of pixels
    ExpectNear(db, expected.db, 1e-4);
  }
}

// Checks dx, dw, db of sum(dy · conv(x, w) + b) against central differences.
void CheckGradients(const Conv2DGeometry& g, uint32_t seed) {
  auto backend = CreateCpuBackend();
  auto x = RandomVector(InSize(g), seed), w = RandomVector(KernelSize(g), seed + 1);
  auto b = RandomVector(g.out_c, seed + 2);
  const auto dy = RandomVector(OutSize(g), seed + 3);
  std::vector<float> y(OutSize(g)), dx(InSize(g)), dw(KernelSize(g)), db(g.out_c);
  backend->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  auto loss = [&] {
    backend->Conv2DForward(g, x.data(), w.data(), b.data(), y.data());
    return WeightedSum(dy, y);
  };
  ExpectGradientNear(dx, NumericGradient(x, loss));
  ExpectGradientNear(dw, NumericGradient(w, loss));
  ExpectGradientNear(db, NumericGradient(b, loss));
}

TEST(Conv2DTest, BackwardMatchesNumericGradients) {
  uint32_t seed = 100;
  for (const Conv2DGeometry& g : Geometries()) {
    SCOPED_TRACE(std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " window " +
                 std::to_string(g.window_h) + "x" + std::to_string(g.window_w));
    CheckGradients(g, seed += 10);
  }
}

TEST(Conv2DTest, BackwardWithoutDxAndDbGivesTheSameDw) {
  Conv2DGeometry g = Geometry(2, 7, 6, 3, 4, 3, 3, 2, true);
  const auto x = RandomVector(InSize(g), 5), w = RandomVector(KernelSize(g), 6);
  const auto dy = RandomVector(OutSize(g), 7);
  auto backend = CreateCpuBackend();
  std::vector<float> dx(InSize(g)), dw(KernelSize(g)), db(g.out_c), dw_only(KernelSize(g), -9.0f);
  backend->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  backend->Conv2DBackward(g, x.data(), w.data(), dy.data(), nullptr, dw_only.data(), nullptr);
  EXPECT_EQ(dw, dw_only);
}

TEST(Conv2DTest, ResultsDoNotDependOnThreadCount) {
  Conv2DGeometry g = Geometry(24, 14, 14, 8, 16, 3, 3, 1, true);
  const auto x = RandomVector(InSize(g), 8), w = RandomVector(KernelSize(g), 9);
  const auto dy = RandomVector(OutSize(g), 10);
  auto backend = CreateCpuBackend();
  testing::ExpectSameBitsForAnyThreadCount([&] {
    std::vector<float> out(OutSize(g)), dx(InSize(g)), dw(KernelSize(g)), db(g.out_c);
    backend->Conv2DForward(g, x.data(), w.data(), nullptr, out.data());
    backend->Conv2DBackward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dw.begin(), dw.end());
    out.insert(out.end(), db.begin(), db.end());
    return out;
  });
}

}  // namespace
}  // namespace shardtrain::kernels
