// Batch normalization on the CPU backend: biased moments (hand-worked and a
// double reference over several row blocks), the forward against its
// formula, and GradSums + InputGrad against central differences of
// sum(dy · y) through the batch moments; moments split across "ranks".
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/backend.h"
#include "tests/kernels/test_util.h"

namespace shardtrain::kernels {
namespace {

using testing::ExpectGradientNear;
using testing::NumericGradient;
using testing::RandomVector;
using testing::WeightedSum;

constexpr float kEpsilon = 1e-3f;

TEST(BatchNormTest, MomentsAreBiased) {
  // Column 0 = 1, 2, 3, 4: mean 2.5, variance (2.25 + 0.25 + 0.25 + 2.25) / 4
  // = 1.25 (not the unbiased 5/3). Column 1 is constant: variance 0.
  const std::vector<float> x = {1, 7, 2, 7, 3, 7, 4, 7};
  std::vector<float> mean(2), variance(2);
  CreateCpuBackend()->BatchNormMoments(x.data(), 4, 2, mean.data(), variance.data());
  EXPECT_EQ(mean, (std::vector<float>{2.5f, 7.0f}));
  EXPECT_EQ(variance, (std::vector<float>{1.25f, 0.0f}));
}

TEST(BatchNormTest, MomentsMatchDoubleReferenceOverManyRows) {
  const int64_t rows = 1500, channels = 5;  // several row blocks
  const auto x = RandomVector(rows * channels, 3, 2.0f, 4.0f);
  std::vector<float> mean(channels), variance(channels);
  CreateCpuBackend()->BatchNormMoments(x.data(), rows, channels, mean.data(), variance.data());
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0.0, sq = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * channels + c];
    const double mu = sum / rows;
    for (int64_t r = 0; r < rows; ++r)
      sq += (x[r * channels + c] - mu) * (x[r * channels + c] - mu);
    EXPECT_NEAR(mean[c], mu, 1e-6);
    EXPECT_NEAR(variance[c], sq / rows, 1e-6);
  }
}

TEST(BatchNormTest, ForwardFollowsTheFormulaAndAllowsInPlace) {
  const int64_t rows = 6, channels = 3;
  auto x = RandomVector(rows * channels, 4);
  const std::vector<float> mean = {0.1f, -0.2f, 0.3f}, variance = {0.5f, 1.5f, 0.01f};
  const std::vector<float> gamma = {1.5f, -0.5f, 2.0f}, beta = {0.0f, 1.0f, -1.0f};
  auto backend = CreateCpuBackend();
  std::vector<float> y(x.size()), plain(x.size());
  backend->BatchNormForward(x.data(), mean.data(), variance.data(), gamma.data(), beta.data(),
                            kEpsilon, y.data(), rows, channels);
  backend->BatchNormForward(x.data(), mean.data(), variance.data(), nullptr, nullptr, kEpsilon,
                            plain.data(), rows, channels);
  for (int64_t i = 0; i < rows * channels; ++i) {
    const int64_t c = i % channels;
    const double x_hat = (x[i] - mean[c]) / std::sqrt(double{variance[c]} + kEpsilon);
    EXPECT_NEAR(y[i], gamma[c] * x_hat + beta[c], 1e-5) << i;
    EXPECT_NEAR(plain[i], x_hat, 1e-5) << i;
  }
  backend->BatchNormForward(x.data(), mean.data(), variance.data(), gamma.data(), beta.data(),
                            kEpsilon, x.data(), rows, channels);
  EXPECT_EQ(x, y);
}

// Training-mode loss sum(dy · BN(x; moments(x), gamma, beta)) and its gradient.
struct TrainingBatchNorm {
  int64_t rows, channels;
  std::vector<float> x, gamma, beta, dy;
  bool use_gamma = true;

  double Loss() const {
    auto backend = CreateCpuBackend();
    std::vector<float> mean(channels), variance(channels), y(x.size());
    backend->BatchNormMoments(x.data(), rows, channels, mean.data(), variance.data());
    backend->BatchNormForward(x.data(), mean.data(), variance.data(),
                              use_gamma ? gamma.data() : nullptr, beta.data(), kEpsilon, y.data(),
                              rows, channels);
    return WeightedSum(dy, y);
  }
  // dx, dgamma, dbeta from GradSums + InputGrad(count = rows).
  void Gradients(std::vector<float>* dx, std::vector<float>* dgamma,
                 std::vector<float>* dbeta) const {
    auto backend = CreateCpuBackend();
    std::vector<float> mean(channels), variance(channels);
    backend->BatchNormMoments(x.data(), rows, channels, mean.data(), variance.data());
    dx->resize(x.size()), dgamma->resize(channels), dbeta->resize(channels);
    backend->BatchNormGradSums(x.data(), dy.data(), mean.data(), variance.data(), kEpsilon,
                               dgamma->data(), dbeta->data(), rows, channels);
    backend->BatchNormInputGrad(x.data(), dy.data(), mean.data(), variance.data(),
                                use_gamma ? gamma.data() : nullptr, dgamma->data(), dbeta->data(),
                                kEpsilon, static_cast<double>(rows), dx->data(), rows, channels);
  }
};

TrainingBatchNorm MakeCase(uint32_t seed) {
  const int64_t rows = 10, channels = 3;
  return TrainingBatchNorm{rows,
                           channels,
                           RandomVector(rows * channels, seed, -2.0f, 2.0f),
                           RandomVector(channels, seed + 1, 0.5f, 2.0f),
                           RandomVector(channels, seed + 2),
                           RandomVector(rows * channels, seed + 3)};
}

TEST(BatchNormTest, TrainingGradientsMatchNumericGradients) {
  for (bool use_gamma : {true, false}) {
    TrainingBatchNorm bn = MakeCase(use_gamma ? 50 : 60);
    bn.use_gamma = use_gamma;
    std::vector<float> dx, dgamma, dbeta;
    bn.Gradients(&dx, &dgamma, &dbeta);
    auto loss = [&] { return bn.Loss(); };
    ExpectGradientNear(dx, NumericGradient(bn.x, loss, 2e-3f), 5e-3);
    ExpectGradientNear(dbeta, NumericGradient(bn.beta, loss, 2e-3f), 5e-3);
    if (use_gamma) ExpectGradientNear(dgamma, NumericGradient(bn.gamma, loss, 2e-3f), 5e-3);
  }
}

TEST(BatchNormTest, InputGradOverMomentsSplitAcrossRanks) {
  // Two "ranks" of 5 rows each, moments and sums over all 10 rows: each rank's
  // InputGrad with count 10 gives its rows of the single-rank dx.
  const TrainingBatchNorm bn = MakeCase(70);
  std::vector<float> dx, dgamma, dbeta;
  bn.Gradients(&dx, &dgamma, &dbeta);
  auto backend = CreateCpuBackend();
  std::vector<float> mean(3), variance(3), half(15);
  backend->BatchNormMoments(bn.x.data(), 10, 3, mean.data(), variance.data());
  for (int64_t rank = 0; rank < 2; ++rank) {
    const int64_t offset = rank * 15;
    backend->BatchNormInputGrad(bn.x.data() + offset, bn.dy.data() + offset, mean.data(),
                                variance.data(), bn.gamma.data(), dgamma.data(), dbeta.data(),
                                kEpsilon, 10.0, half.data(), 5, 3);
    EXPECT_EQ(half, std::vector<float>(dx.begin() + offset, dx.begin() + offset + 15));
  }
}

TEST(BatchNormTest, FrozenBackwardIsAScaleByGammaOverStd) {
  // CNN.md: a frozen layer's backward is BatchNormForward over dy with mean 0,
  // the moving variance, and no beta: dx = dy · gamma / sqrt(mv + epsilon).
  const std::vector<float> dy = {1.0f, -2.0f, 0.5f, 4.0f};
  const std::vector<float> zero = {0.0f, 0.0f}, mv = {0.999f, 3.999f}, gamma = {2.0f, 3.0f};
  std::vector<float> dx(4);
  CreateCpuBackend()->BatchNormForward(dy.data(), zero.data(), mv.data(), gamma.data(), nullptr,
                                       kEpsilon, dx.data(), 2, 2);
  // sqrt(0.999 + 0.001) = 1, sqrt(3.999 + 0.001) = 2.
  EXPECT_EQ(dx, (std::vector<float>{2.0f, -3.0f, 1.0f, 6.0f}));
}

TEST(BatchNormTest, ResultsDoNotDependOnThreadCount) {
  const int64_t rows = 9000, channels = 24;  // many row blocks, split over threads
  const auto x = RandomVector(rows * channels, 80), dy = RandomVector(rows * channels, 81);
  const auto gamma = RandomVector(channels, 82, 0.5f, 2.0f);
  auto backend = CreateCpuBackend();
  testing::ExpectSameBitsForAnyThreadCount([&] {
    std::vector<float> mean(channels), variance(channels), dgamma(channels), dbeta(channels);
    std::vector<float> y(x.size()), dx(x.size());
    backend->BatchNormMoments(x.data(), rows, channels, mean.data(), variance.data());
    backend->BatchNormForward(x.data(), mean.data(), variance.data(), gamma.data(), nullptr,
                              kEpsilon, y.data(), rows, channels);
    backend->BatchNormGradSums(x.data(), dy.data(), mean.data(), variance.data(), kEpsilon,
                               dgamma.data(), dbeta.data(), rows, channels);
    backend->BatchNormInputGrad(x.data(), dy.data(), mean.data(), variance.data(), gamma.data(),
                                dgamma.data(), dbeta.data(), kEpsilon, rows, dx.data(), rows,
                                channels);
    for (const auto* part : {&mean, &variance, &dgamma, &dbeta, &dx}) {
      y.insert(y.end(), part->begin(), part->end());
    }
    return y;
  });
}

}  // namespace
}  // namespace shardtrain::kernels
