// Losses, per-example loss weights and the accuracy metric on the CPU backend:
// closed-form values, stability at extreme logits, and finite-difference
// backward passes.
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

double Sum(const std::vector<float>& v) {
  double s = 0.0;
  for (float x : v) s += x;
  return s;
}

TEST(SparseSoftmaxCrossEntropyTest, ForwardClosedForm) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {1, 2, 3, 1, 2, 3};
  const std::vector<int32_t> labels = {2, 0};
  std::vector<float> losses(2);
  backend->SparseSoftmaxCrossEntropyForward(logits.data(), labels.data(), losses.data(), 2, 3);
  // logsumexp(1, 2, 3) = 3 + log(1 + e^-1 + e^-2)
  const double lse = 3.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-2.0));
  EXPECT_NEAR(losses[0], lse - 3.0, 1e-6);  // 0.4076059...
  EXPECT_NEAR(losses[1], lse - 1.0, 1e-6);  // 2.4076059...
  EXPECT_NEAR(losses[0], 0.40760596, 1e-6);
}

TEST(SparseSoftmaxCrossEntropyTest, StableForHugeLogits) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {1000, 0, -1000, 1000, 0, -1000};
  const std::vector<int32_t> labels = {0, 1};
  std::vector<float> losses(2), dlogits(6);
  backend->SparseSoftmaxCrossEntropyForward(logits.data(), labels.data(), losses.data(), 2, 3);
  EXPECT_EQ(losses[0], 0.0f);
  EXPECT_EQ(losses[1], 1000.0f);
  backend->SparseSoftmaxCrossEntropyBackward(logits.data(), labels.data(), 1.0f, dlogits.data(), 2,
                                             3);
  EXPECT_EQ(dlogits, (std::vector<float>{0, 0, 0, 1, -1, 0}));
}

TEST(SparseSoftmaxCrossEntropyTest, BackwardExactAndScaled) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // softmax = [1/4, 3/4]
  const std::vector<int32_t> labels = {1};
  std::vector<float> d(2);
  backend->SparseSoftmaxCrossEntropyBackward(logits.data(), labels.data(), 0.5f, d.data(), 1, 2);
  EXPECT_NEAR(d[0], 0.125, 1e-7);
  EXPECT_NEAR(d[1], -0.125, 1e-7);
}

TEST(SparseSoftmaxCrossEntropyTest, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 4, classes = 5;
  const float scale = 1.0f / batch;
  auto backend = CreateCpuBackend();
  auto logits = RandomVector(batch * classes, 71, -3.0f, 3.0f);
  const std::vector<int32_t> labels = {0, 4, 2, 2};
  std::vector<float> losses(batch);
  auto objective = [&] {
    backend->SparseSoftmaxCrossEntropyForward(logits.data(), labels.data(), losses.data(), batch,
                                              classes);
    return scale * Sum(losses);
  };
  std::vector<float> d(logits.size());
  backend->SparseSoftmaxCrossEntropyBackward(logits.data(), labels.data(), scale, d.data(), batch,
                                             classes);
  ExpectGradientNear(d, NumericGradient(logits, objective));
}

TEST(SoftmaxCrossEntropyTest, OneHotEqualsSparse) {
  const int64_t batch = 3, classes = 4;
  auto backend = CreateCpuBackend();
  auto logits = RandomVector(batch * classes, 81, -2.0f, 2.0f);
  const std::vector<int32_t> sparse = {3, 0, 1};
  std::vector<float> onehot(batch * classes, 0.0f);
  for (int64_t b = 0; b < batch; ++b) onehot[b * classes + sparse[b]] = 1.0f;
  std::vector<float> l1(batch), l2(batch), d1(batch * classes), d2(batch * classes);
  backend->SparseSoftmaxCrossEntropyForward(logits.data(), sparse.data(), l1.data(), batch,
                                            classes);
  backend->SoftmaxCrossEntropyForward(logits.data(), onehot.data(), l2.data(), batch, classes);
  backend->SparseSoftmaxCrossEntropyBackward(logits.data(), sparse.data(), 0.3f, d1.data(), batch,
                                             classes);
  backend->SoftmaxCrossEntropyBackward(logits.data(), onehot.data(), 0.3f, d2.data(), batch,
                                       classes);
  for (int64_t b = 0; b < batch; ++b) EXPECT_NEAR(l1[b], l2[b], 1e-6);
  for (size_t i = 0; i < d1.size(); ++i) EXPECT_NEAR(d1[i], d2[i], 1e-7);
}

TEST(SoftmaxCrossEntropyTest, SoftLabelsClosedForm) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {0.0f, std::log(3.0f)};  // softmax = [1/4, 3/4]
  const std::vector<float> labels = {0.5f, 0.5f};
  std::vector<float> loss(1), d(2);
  backend->SoftmaxCrossEntropyForward(logits.data(), labels.data(), loss.data(), 1, 2);
  EXPECT_NEAR(loss[0], -0.5 * std::log(0.25) - 0.5 * std::log(0.75), 1e-6);
  backend->SoftmaxCrossEntropyBackward(logits.data(), labels.data(), 1.0f, d.data(), 1, 2);
  EXPECT_NEAR(d[0], 0.25 - 0.5, 1e-7);
  EXPECT_NEAR(d[1], 0.75 - 0.5, 1e-7);
}

TEST(SoftmaxCrossEntropyTest, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 3, classes = 4;
  const float scale = 0.7f;
  auto backend = CreateCpuBackend();
  auto logits = RandomVector(batch * classes, 91, -3.0f, 3.0f);
  // Row 0 one-hot, rows 1-2 soft (summing to 1 and, for row 2, to 0.6).
  const std::vector<float> labels = {0, 1, 0, 0, 0.2f, 0.3f, 0.4f, 0.1f, 0.1f, 0, 0.5f, 0};
  std::vector<float> losses(batch);
  auto objective = [&] {
    backend->SoftmaxCrossEntropyForward(logits.data(), labels.data(), losses.data(), batch,
                                        classes);
    return scale * Sum(losses);
  };
  std::vector<float> d(logits.size());
  backend->SoftmaxCrossEntropyBackward(logits.data(), labels.data(), scale, d.data(), batch,
                                       classes);
  ExpectGradientNear(d, NumericGradient(logits, objective));
}

TEST(MeanSquaredErrorTest, ForwardAndBackwardExact) {
  auto backend = CreateCpuBackend();
  const std::vector<float> pred = {1, 2, 3, 0, 0, 0};
  const std::vector<float> target = {1, 0, 0, 1, 1, 1};
  std::vector<float> losses(2), d(6);
  backend->MeanSquaredErrorForward(pred.data(), target.data(), losses.data(), 2, 3);
  EXPECT_NEAR(losses[0], 13.0 / 3.0, 1e-6);
  EXPECT_EQ(losses[1], 1.0f);
  backend->MeanSquaredErrorBackward(pred.data(), target.data(), 1.5f, d.data(), 2, 3);
  // 2 (p - t) / 3 * 1.5 = p - t
  EXPECT_EQ(d, (std::vector<float>{0, 2, 3, -1, -1, -1}));
}

TEST(MeanSquaredErrorTest, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 3, dim = 4;
  const float scale = 0.25f;
  auto backend = CreateCpuBackend();
  auto pred = RandomVector(batch * dim, 101);
  const auto target = RandomVector(batch * dim, 102);
  std::vector<float> losses(batch);
  auto objective = [&] {
    backend->MeanSquaredErrorForward(pred.data(), target.data(), losses.data(), batch, dim);
    return scale * Sum(losses);
  };
  std::vector<float> d(pred.size());
  backend->MeanSquaredErrorBackward(pred.data(), target.data(), scale, d.data(), batch, dim);
  ExpectGradientNear(d, NumericGradient(pred, objective));
}

// Keras binary cross-entropy, mean over dim 2, both forms: the backward is the
// forward's gradient (from probabilities inside the clip range).
TEST(BinaryCrossEntropyTest, BackwardMatchesFiniteDifferences) {
  const int64_t batch = 3, dim = 2;
  const float scale = 0.5f;
  auto backend = CreateCpuBackend();
  const auto target = RandomVector(batch * dim, 111, 0, 1);  // soft targets
  for (const bool from_logits : {true, false}) {
    auto output = from_logits ? RandomVector(batch * dim, 112, -3, 3)
                              : RandomVector(batch * dim, 113, 0.2f, 0.8f);
    std::vector<float> losses(batch);
    auto objective = [&] {
      backend->BinaryCrossEntropyForward(output.data(), target.data(), from_logits, losses.data(),
                                         batch, dim);
      return scale * Sum(losses);
    };
    std::vector<float> d(output.size());
    backend->BinaryCrossEntropyBackward(output.data(), target.data(), from_logits, scale, d.data(),
                                        batch, dim);
    // -log p curves sharply: a smaller step keeps the central difference's error down.
    ExpectGradientNear(d, NumericGradient(output, objective, from_logits ? 1e-2f : 2e-3f));
  }
}

// Logits of +-100 neither overflow nor lose the gradient; saturated
// probabilities are clipped to Keras's 1e-7 and pass no gradient.
TEST(BinaryCrossEntropyTest, StableAtTheExtremes) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {100, -100, 100}, targets = {0, 1, 1};
  std::vector<float> losses(3), d(3);
  backend->BinaryCrossEntropyForward(logits.data(), targets.data(), true, losses.data(), 3, 1);
  backend->BinaryCrossEntropyBackward(logits.data(), targets.data(), true, 1.0f, d.data(), 3, 1);
  EXPECT_FLOAT_EQ(losses[0], 100.0f);
  EXPECT_FLOAT_EQ(losses[1], 100.0f);
  EXPECT_NEAR(losses[2], 0.0f, 1e-30);
  EXPECT_EQ(d, (std::vector<float>{1, -1, 0}));
  const std::vector<float> probabilities = {1, 0, 1};
  backend->BinaryCrossEntropyForward(probabilities.data(), targets.data(), false, losses.data(), 3,
                                     1);
  backend->BinaryCrossEntropyBackward(probabilities.data(), targets.data(), false, 1.0f, d.data(),
                                      3, 1);
  const float capped = -std::log(1.0f - (1.0f - 1e-7f));  // 15.94: log of 1 - clip(1)
  EXPECT_FLOAT_EQ(losses[0], capped);
  EXPECT_NEAR(losses[1], -std::log(1e-7f), 1e-5);
  EXPECT_NEAR(losses[2], 1.19e-7f, 1e-9);  // -log(1 - 1e-7) in float32
  EXPECT_EQ(d, (std::vector<float>{0, 0, 0}));
}

TEST(ScaleRowsTest, ScalesEachRowByItsFactor) {
  auto backend = CreateCpuBackend();
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<float> scale = {2, 0, 0.5f};
  backend->ScaleRows(x.data(), scale.data(), 3, 2);
  EXPECT_EQ(x, (std::vector<float>{2, 4, 0, 0, 2.5f, 3}));
}

TEST(SparseAccuracyCountTest, CountsArgmaxAndTiesPickTheFirstMaximum) {
  auto backend = CreateCpuBackend();
  const std::vector<float> logits = {
      1, 3, 3,  // tie between 1 and 2: argmax 1
      1, 3, 3,  // same row, label 2: wrong
      5, 1, 1,  // argmax 0
      0, 0, 0,  // all tied: argmax 0
  };
  const std::vector<int32_t> labels = {1, 2, 0, 1};
  EXPECT_EQ(backend->SparseAccuracyCount(logits.data(), labels.data(), 4, 3), 2);
  const std::vector<int32_t> first = {1, 1, 0, 0};
  EXPECT_EQ(backend->SparseAccuracyCount(logits.data(), first.data(), 4, 3), 4);
}

}  // namespace
}  // namespace shardtrain::kernels
