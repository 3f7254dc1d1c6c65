// Activation kernels on the CPU backend: closed-form values, numerical
// stability at extreme inputs, in-place use, and finite-difference backward.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

using testing::ExpectGradientNear;
using testing::NumericGradient;
using testing::RandomAwayFromZero;
using testing::RandomVector;
using testing::WeightedSum;

std::vector<float> Forward(Activation act, const std::vector<float>& x, int64_t rows,
                           int64_t cols) {
  std::vector<float> y(x.size(), -99.0f);
  CreateCpuBackend()->ActivationForward(act, x.data(), y.data(), rows, cols);
  return y;
}

TEST(ActivationTest, NamesMatchKeras) {
  EXPECT_EQ(ActivationName(Activation::kLinear), "linear");
  EXPECT_EQ(ActivationName(Activation::kRelu), "relu");
  EXPECT_EQ(ActivationName(Activation::kSigmoid), "sigmoid");
  EXPECT_EQ(ActivationName(Activation::kTanh), "tanh");
  EXPECT_EQ(ActivationName(Activation::kSoftmax), "softmax");
}

TEST(ActivationTest, ForwardValues) {
  const std::vector<float> x = {-2.0f, 0.0f, 0.5f, 3.0f};
  EXPECT_EQ(Forward(Activation::kLinear, x, 1, 4), x);
  EXPECT_EQ(Forward(Activation::kRelu, x, 1, 4), (std::vector<float>{0, 0, 0.5f, 3.0f}));
  auto s = Forward(Activation::kSigmoid, x, 1, 4);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(s[i], 1.0 / (1.0 + std::exp(-static_cast<double>(x[i]))), 1e-7);
  }
  EXPECT_EQ(s[1], 0.5f);
  auto t = Forward(Activation::kTanh, x, 1, 4);
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(t[i], std::tanh(static_cast<double>(x[i])), 1e-7);
}

TEST(ActivationTest, SigmoidSaturatesWithoutNan) {
  auto s = Forward(Activation::kSigmoid, {-1000.0f, -88.0f, 88.0f, 1000.0f}, 1, 4);
  EXPECT_EQ(s[0], 0.0f);
  EXPECT_GT(s[1], 0.0f);
  EXPECT_NEAR(s[1], std::exp(-88.0), 1e-40);
  EXPECT_EQ(s[2], 1.0f);
  EXPECT_EQ(s[3], 1.0f);
}

TEST(ActivationTest, SoftmaxClosedFormPerRow) {
  // Row 0: [1, 2, 3]; row 1: [0, 0, ln 2] -> [1/4, 1/4, 1/2].
  auto y = Forward(Activation::kSoftmax, {1, 2, 3, 0, 0, std::log(2.0f)}, 2, 3);
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(y[1], std::exp(2.0) / z, 1e-7);
  EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-7);
  EXPECT_NEAR(y[3], 0.25, 1e-7);
  EXPECT_NEAR(y[4], 0.25, 1e-7);
  EXPECT_NEAR(y[5], 0.5, 1e-7);
}

TEST(ActivationTest, SoftmaxIsStableForHugeLogits) {
  auto y = Forward(Activation::kSoftmax, {1000.0f, 1000.0f, -1000.0f}, 1, 3);
  EXPECT_EQ(y[0], 0.5f);
  EXPECT_EQ(y[1], 0.5f);
  EXPECT_EQ(y[2], 0.0f);
}

TEST(ActivationTest, InPlaceForwardAndBackward) {
  auto backend = CreateCpuBackend();
  std::vector<float> x = {-1.0f, 2.0f, -3.0f, 4.0f};
  backend->ActivationForward(Activation::kRelu, x.data(), x.data(), 2, 2);
  EXPECT_EQ(x, (std::vector<float>{0, 2, 0, 4}));
  std::vector<float> d = {5, 6, 7, 8};
  backend->ActivationBackward(Activation::kRelu, x.data(), d.data(), d.data(), 2, 2);
  EXPECT_EQ(d, (std::vector<float>{0, 6, 0, 8}));
  std::vector<float> s = {0.0f, std::log(3.0f)};
  backend->ActivationForward(Activation::kSoftmax, s.data(), s.data(), 1, 2);
  EXPECT_NEAR(s[0], 0.25, 1e-7);
  std::vector<float> ds = {1.0f, 0.0f};
  // dx = y ⊙ (dy - y·dy) = [0.25 (1 - 0.25), 0.75 (0 - 0.25)]
  backend->ActivationBackward(Activation::kSoftmax, s.data(), ds.data(), ds.data(), 1, 2);
  EXPECT_NEAR(ds[0], 0.1875, 1e-7);
  EXPECT_NEAR(ds[1], -0.1875, 1e-7);
}

TEST(ActivationTest, LargeReluMatchesScalarReference) {
  const int64_t rows = 300, cols = 512;  // above the OpenMP threshold
  auto x = RandomVector(rows * cols, 5);
  auto dy = RandomVector(rows * cols, 6);
  std::vector<float> y(x.size()), dx(x.size());
  cpu::ActivationForward(Activation::kRelu, x.data(), y.data(), rows, cols);
  cpu::ActivationBackward(Activation::kRelu, y.data(), dy.data(), dx.data(), rows, cols);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(y[i], x[i] > 0 ? x[i] : 0.0f);
    ASSERT_EQ(dx[i], x[i] > 0 ? dy[i] : 0.0f);
  }
}

class ActivationGradientTest : public ::testing::TestWithParam<Activation> {};

TEST_P(ActivationGradientTest, BackwardMatchesFiniteDifferences) {
  const Activation act = GetParam();
  const int64_t rows = 3, cols = 5;
  auto backend = CreateCpuBackend();
  auto x = RandomAwayFromZero(rows * cols, 31);
  const auto r = RandomVector(rows * cols, 32);
  std::vector<float> y(x.size());
  auto objective = [&] {
    backend->ActivationForward(act, x.data(), y.data(), rows, cols);
    return WeightedSum(r, y);
  };
  objective();
  std::vector<float> dx(x.size());
  backend->ActivationBackward(act, y.data(), r.data(), dx.data(), rows, cols);
  ExpectGradientNear(dx, NumericGradient(x, objective));
}

INSTANTIATE_TEST_SUITE_P(All, ActivationGradientTest,
                         ::testing::Values(Activation::kLinear, Activation::kRelu,
                                           Activation::kSigmoid, Activation::kTanh,
                                           Activation::kSoftmax),
                         [](const ::testing::TestParamInfo<Activation>& info) {
                           return std::string(ActivationName(info.param));
                         });

}  // namespace
}  // namespace shardtrain::kernels
