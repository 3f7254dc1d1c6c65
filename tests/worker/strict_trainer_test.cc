// The trainer on the strict emulated device: parameters, gradients, optimizer
// slots, activations and the batch slots live in memory the host cannot
// touch, so any host read of it outside a backend op or copy crashes here.
// Fit (50 steps with validation), Evaluate and Predict give the CPU backend's
// bits: every batch's running loss and metrics, every epoch's logs, the final
// weights, the evaluation and the predictions; and no misuse is recorded.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/philox.h"
#include "kernels/backend.h"
#include "kernels/strict/strict_device_backend.h"
#include "tests/worker/trainer_test_util.h"
#include "tests/worker/training_test_callbacks.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

using testing::OneRankPlanner;
using testing::SeparableDataset;
using testing::StepLogRecorder;

// What a run produced, all copied to the host.
struct RunResult {
  StepLogRecorder logs;  // every batch's and epoch's
  std::vector<float> weights;
  std::vector<double> evaluation;
  std::vector<float> predictions;
};

// Fits `job` on `train` (validating on `val`), then evaluates and predicts on `val`.
RunResult TrainAndEvaluate(kernels::KernelBackend& backend, const config::JobConfig& job,
              const data::Dataset& train, const data::Dataset& val) {
  RunResult result;
  auto trainer = Trainer::Create(job, &backend);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return result;
  OneRankPlanner planner(&train, job.training().batch_size(), /*shuffle=*/true);
  const Status fit = (*trainer)->Fit(&planner, &val, {&result.logs});
  EXPECT_TRUE(fit.ok()) << fit;
  result.weights = testing::HostWeights(**trainer);
  auto eval = (*trainer)->Evaluate(val);
  EXPECT_TRUE(eval.ok()) << eval.status();
  if (eval.ok()) {
    result.evaluation = {eval->loss, eval->accuracy, static_cast<double>(eval->examples)};
    for (const auto& [name, value] : eval->metrics) result.evaluation.push_back(value);
  }
  auto predictions = (*trainer)->Predict(val);
  EXPECT_TRUE(predictions.ok()) << predictions.status();
  if (predictions.ok()) result.predictions = *predictions;
  return result;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void ExpectSameRun(const config::JobConfig& job, const data::Dataset& train,
                   const data::Dataset& val) {
  auto cpu = kernels::CreateCpuBackend();
  std::unique_ptr<kernels::KernelBackend> strict = kernels::CreateStrictDeviceBackend();
  const RunResult expected = TrainAndEvaluate(*cpu, job, train, val);
  const RunResult got = TrainAndEvaluate(*strict, job, train, val);
  EXPECT_TRUE(strict->CheckErrors().ok()) << strict->CheckErrors();
  ASSERT_FALSE(expected.logs.batches.empty());
  ASSERT_FALSE(expected.logs.epochs.empty());
  EXPECT_EQ(got.logs.batches, expected.logs.batches);  // bitwise: EXPECT_EQ on doubles
  EXPECT_EQ(got.logs.epochs, expected.logs.epochs);
  EXPECT_TRUE(SameBits(got.weights, expected.weights));
  EXPECT_EQ(got.evaluation, expected.evaluation);
  EXPECT_TRUE(SameBits(got.predictions, expected.predictions));
}

// 200 examples in batches of 8, 2 epochs: 50 steps.
TEST(StrictTrainerTest, MlpWithDropoutMatchesTheCpuBitwise) {
  const config::JobConfig job = testing::SmallJob(
      "layers { dense { units: 16 activation: RELU } } layers { dropout { rate: 0.2 } } "
      "layers { dense { units: 3 } }",
      /*epochs=*/2);
  ExpectSameRun(job, SeparableDataset(200, 1), SeparableDataset(50, 2));
}

// `n` examples of a (6, 6, 2) input in 3 classes: class c raises channel c % 2
// of the rows c * 2 and c * 2 + 1, over Philox noise.
data::Dataset ImageDataset(int64_t n, uint64_t seed) {
  data::Dataset d;
  d.num_examples = n;
  d.feature_size = 72;
  d.labels.resize(static_cast<size_t>(n));
  d.features.resize(static_cast<size_t>(n * 72));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(PhiloxBits(seed, 0, 1, i) % 3);
    d.labels[static_cast<size_t>(i)] = label;
    for (int64_t j = 0; j < 72; ++j) {
      const int64_t row = j / 12, channel = j % 2;
      const bool lit = row / 2 == label && channel == label % 2;
      const float noise = static_cast<float>(PhiloxBits(seed, 0, 2, i * 72 + j) % 100) / 250.0f;
      d.features[static_cast<size_t>(i * 72 + j)] = noise + (lit ? 0.6f : 0.0f);
    }
  }
  return d;
}

// Conv2D (L2) -> BatchNormalization -> MaxPool -> Conv2D added back ->
// Concatenate -> synchronized BatchNormalization -> Dense(softmax, L1): the
// regularizers, moving statistics and synchronized sums go through the
// model's host staging; SGD with momentum keeps a slot on the device.
TEST(StrictTrainerTest, ConvModelMatchesTheCpuBitwise) {
  const std::string text = R"pb(
    model {
      input_shape: [6, 6, 2]
      layers { name: 'c1' conv2d { filters: 4 kernel_size: [3] padding: SAME activation: RELU
                                   kernel_regularizer { l2: 0.02 } } }
      layers { name: 'bn' batch_normalization { momentum: 0.9 } }
      layers { name: 'pool' max_pooling2d { pool_size: [2] } }
      layers { name: 'c2' conv2d { filters: 4 kernel_size: [3] padding: SAME activation: GELU } }
      layers { name: 'sum' inputs: ['pool', 'c2'] add {} }
      layers { name: 'cat' inputs: ['sum', 'pool'] concatenate {} }
      layers { name: 'bn2' batch_normalization { synchronized: true } }
      layers { flatten {} }
      layers { dense { units: 3 activation: SOFTMAX kernel_regularizer { l1: 0.01 } } }
    }
    training { batch_size: 8 epochs: 2 seed: 7 }
    optimizer { learning_rate: 0.05 sgd { momentum: 0.9 } }
    loss { sparse_categorical_crossentropy {} }
    metrics: "accuracy"
    data { dir: "unused" num_classes: 3 }
  )pb";
  StatusOr<config::JobConfig> job = ParseJobConfig(text, "conv job");
  ASSERT_TRUE(job.ok()) << job.status();
  ASSERT_TRUE(ValidateJobConfig(&*job).ok());
  ExpectSameRun(*job, ImageDataset(200, 3), ImageDataset(40, 4));
}

}  // namespace
}  // namespace shardtrain
