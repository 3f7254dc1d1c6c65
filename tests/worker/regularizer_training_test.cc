// Kernel regularizers in training (issue 25 point 4), against a hand
// reference: with SGD, one step of a regularized job moves each kernel weight
// by -lr * 2 * l2 * w0 more than the same job without the regularizer; the
// reported training loss is larger by the penalty l2 * sum w0^2 (Keras adds
// it to the batch loss), and so is the evaluation loss for the same weights.
#include <gtest/gtest.h>

#include <vector>

#include "tests/worker/trainer_test_util.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

using testing::OneRankPlanner;
using testing::SeparableDataset;
using testing::SmallJob;

// The training loss Keras reports after the last batch (the epoch's running mean).
class LastBatch : public callbacks::Callback {
 public:
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    loss = b.loss;
    return OkStatus();
  }
  double loss = 0;
};

constexpr float kL2 = 0.05f, kLearningRate = 0.1f;

config::JobConfig SgdJob(bool regularized) {
  config::JobConfig job =
      SmallJob(regularized ? "layers { dense { units: 3 kernel_regularizer { l2: 0.05 } } }"
                           : "layers { dense { units: 3 } }",
               1);
  job.mutable_optimizer()->mutable_sgd();
  job.mutable_optimizer()->set_learning_rate(kLearningRate);
  return job;
}

TEST(RegularizerTrainingTest, OneSgdStepMatchesTheKerasReference) {
  auto backend = kernels::CreateCpuBackend();
  auto plain = Trainer::Create(SgdJob(false), backend.get());
  auto regularized = Trainer::Create(SgdJob(true), backend.get());
  ASSERT_TRUE(plain.ok()) << plain.status();
  ASSERT_TRUE(regularized.ok()) << regularized.status();
  model::ParameterStore& params = (*regularized)->model().parameters();
  const std::vector<float> w0(params.param(0), params.param(0) + 36);  // dense/kernel (12, 3)
  double penalty = 0;
  for (float w : w0) penalty += static_cast<double>(kL2) * w * w;
  data::Dataset train = SeparableDataset(8, 1), val = SeparableDataset(16, 2);
  LastBatch plain_log, regularized_log;
  OneRankPlanner planner(&train, 8, /*shuffle=*/false);  // one step of all 8 examples
  ASSERT_TRUE((*plain)->Fit(&planner, &val, {&plain_log}).ok());
  ASSERT_TRUE((*regularized)->Fit(&planner, &val, {&regularized_log}).ok());
  EXPECT_NEAR(regularized_log.loss - plain_log.loss, penalty, 1e-6);
  const float* w_plain = (*plain)->model().parameters().param(0);
  for (size_t i = 0; i < w0.size(); ++i) {
    EXPECT_NEAR(params.param(0)[i] - w_plain[i], -kLearningRate * 2 * kL2 * w0[i], 1e-6) << i;
  }
  // The bias is not regularized: both jobs move it alike.
  for (int j = 0; j < 3; ++j) {
    EXPECT_FLOAT_EQ(params.param(1)[j], (*plain)->model().parameters().param(1)[j]);
  }
  // Evaluation: the same weights in both trainers differ by exactly the penalty.
  std::copy(params.params(), params.params() + params.size(),
            (*plain)->model().parameters().params());
  auto with = (*regularized)->Evaluate(val);
  auto without = (*plain)->Evaluate(val);
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_NEAR(with->loss - without->loss, (*regularized)->model().RegularizationPenalty(), 1e-9);
}

}  // namespace
}  // namespace shardtrain
