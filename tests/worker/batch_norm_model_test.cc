// BatchNormalization in the model (issue 23): Keras's variables and
// defaults, batch statistics in training and moving statistics in inference,
// the moving update (StoreBatchStatistics -> allreduce -> UpdateMovingStatistics)
// with values worked by hand, a frozen layer's backward, global-norm
// clipping that ignores the moving statistics' slots, and one trainer epoch
// whose moving statistics (momentum 0) are the data's mean and variance.
//
// Hand values: x = [[1,2],[3,4],[5,6],[7,8]] has column means [4, 5] and
// biased variances [5, 5]; rows {0,1} have means [2, 3] and {2,3} [6, 7],
// each with variances [1, 1]. Keras: moving = moving * m + batch * (1 - m).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/job_config.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

using model::ForwardMode;
using model::Model;

std::unique_ptr<Model> CreateModel(const std::string& text, int64_t max_batch) {
  auto job = ParseJobConfig("model { " + text + " }", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  auto model = Model::Create(job->model(), max_batch, kernels::SharedCpuBackend());
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

constexpr char kBatchNorm[] = "input_shape: [2] layers { batch_normalization { momentum: 0.9 } }";
const std::vector<float> kX = {1, 2, 3, 4, 5, 6, 7, 8};

TEST(BatchNormModelTest, VariablesAreKerasOrderAndDefaults) {
  auto model = CreateModel(
      "input_shape: [3, 4] layers { batch_normalization {} } "
      "layers { flatten {} } layers { dense { units: 1 } }",
      2);
  ASSERT_NE(model, nullptr);
  const model::ParameterStore& params = model->parameters();
  const std::vector<std::string> names = {"batch_normalization/gamma", "batch_normalization/beta",
                                          "batch_normalization/moving_mean",
                                          "batch_normalization/moving_variance"};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(params.variable(static_cast<int>(i)).name, names[i]);
    EXPECT_EQ(params.variable(static_cast<int>(i)).shape, Shape{4});
    EXPECT_EQ(params.variable(static_cast<int>(i)).trainable, i < 2) << names[i];
  }
  const Model::Layer& bn = model->layers()[0];
  EXPECT_EQ(bn.momentum, 0.99f);
  EXPECT_EQ(bn.epsilon, 1e-3f);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 1);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(model->parameters().param(bn.gamma_variable)[c], 1.0f);
    EXPECT_EQ(model->parameters().param(bn.beta_variable)[c], 0.0f);
    EXPECT_EQ(model->parameters().param(bn.moving_mean_variable)[c], 0.0f);
    EXPECT_EQ(model->parameters().param(bn.moving_variance_variable)[c], 1.0f);
  }
  auto plain = CreateModel(
      "input_shape: [2] layers { batch_normalization { center: false "
      "scale: false } } layers { dense { units: 1 } }",
      2);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->parameters().variable(0).name, "batch_normalization/moving_mean");
  EXPECT_EQ(plain->layers()[0].gamma_variable, -1);
}

TEST(BatchNormModelTest, TrainingUsesBatchMomentsAndOneStepMovesTheStatistics) {
  auto model = CreateModel(kBatchNorm, 4);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 1);
  const float* y = model->Forward(*backend, kX.data(), 4, ForwardMode{true, 0, 0, 0}, false);
  for (int row = 0; row < 4; ++row) {
    const double expected = (2 * row - 3) / std::sqrt(5.001);  // (x - mean) / sqrt(var + eps)
    EXPECT_NEAR(y[row * 2], expected, 1e-6);
    EXPECT_NEAR(y[row * 2 + 1], expected, 1e-6);
  }
  ASSERT_TRUE(model->has_moving_statistics());
  model->StoreBatchStatistics(1.0f);  // one rank: the allreduce leaves the slots as they are
  model->UpdateMovingStatistics();
  const Model::Layer& bn = model->layers()[0];
  model::ParameterStore& params = model->parameters();
  EXPECT_NEAR(params.param(bn.moving_mean_variable)[0], 0.4, 1e-6);
  EXPECT_NEAR(params.param(bn.moving_mean_variable)[1], 0.5, 1e-6);
  EXPECT_NEAR(params.param(bn.moving_variance_variable)[0], 1.4, 1e-6);
  EXPECT_NEAR(params.param(bn.moving_variance_variable)[1], 1.4, 1e-6);
  // Inference normalizes with the moving statistics.
  y = model->Forward(*backend, kX.data(), 4, ForwardMode{}, false);
  EXPECT_NEAR(y[0], (1 - 0.4) / std::sqrt(1.401), 1e-6);
  EXPECT_NEAR(y[7], (8 - 0.5) / std::sqrt(1.401), 1e-6);
}

// Two ranks of two rows each: weights 1/2, their slots summed as the allreduce sums them.
TEST(BatchNormModelTest, RanksContributeTheirWeightedMoments) {
  auto backend = kernels::CreateCpuBackend();
  std::vector<float> summed_slots(4, 0.0f);
  std::unique_ptr<Model> models[2];
  for (int rank = 0; rank < 2; ++rank) {
    models[rank] = CreateModel(kBatchNorm, 2);
    ASSERT_NE(models[rank], nullptr);
    models[rank]->Initialize(*backend, 1);
    models[rank]->Forward(*backend, kX.data() + rank * 4, 2, ForwardMode{true, 0, 0, 0}, false);
    models[rank]->StoreBatchStatistics(0.5f);
    const Model::Layer& bn = models[rank]->layers()[0];
    for (int c = 0; c < 2; ++c) {
      summed_slots[c] += models[rank]->parameters().grad(bn.moving_mean_variable)[c];
      summed_slots[2 + c] += models[rank]->parameters().grad(bn.moving_variance_variable)[c];
    }
  }
  EXPECT_EQ(summed_slots, (std::vector<float>{4, 5, 1, 1}));
  Model& model = *models[0];
  const Model::Layer& bn = model.layers()[0];
  std::copy(summed_slots.begin(), summed_slots.begin() + 2,
            model.parameters().grad(bn.moving_mean_variable));
  std::copy(summed_slots.begin() + 2, summed_slots.end(),
            model.parameters().grad(bn.moving_variance_variable));
  model.UpdateMovingStatistics();
  EXPECT_NEAR(model.parameters().param(bn.moving_mean_variable)[1], 0.5, 1e-6);
  EXPECT_NEAR(model.parameters().param(bn.moving_variance_variable)[0], 1.0, 1e-6);
  // A rank without rows writes zeros.
  models[1]->StoreBatchStatistics(0.0f);
  EXPECT_EQ(models[1]->parameters().grad(bn.moving_variance_variable)[0], 0.0f);
}

// dense (identity) -> frozen batch_normalization -> dense_1 (identity): the
// frozen layer normalizes with the moving statistics in training too and
// passes dy * gamma / sqrt(moving_variance + epsilon) back to dense.
TEST(BatchNormModelTest, FrozenLayerUsesMovingStatisticsAndScalesTheGradient) {
  auto model = CreateModel(
      "input_shape: [2] layers { dense { units: 2 } } "
      "layers { batch_normalization {} trainable: false } "
      "layers { dense { units: 2 } }",
      1);
  ASSERT_NE(model, nullptr);
  EXPECT_FALSE(model->has_moving_statistics());
  const Model::Layer& bn = model->layers()[1];
  model::ParameterStore& params = model->parameters();
  const float identity[4] = {1, 0, 0, 1};
  std::copy(identity, identity + 4, params.param(model->layers()[0].kernel_variable));
  std::copy(identity, identity + 4, params.param(model->layers()[2].kernel_variable));
  const float gamma[2] = {2.0f, 0.5f}, mean[2] = {1.0f, -1.0f}, variance[2] = {3.0f, 0.5f};
  std::copy(gamma, gamma + 2, params.param(bn.gamma_variable));
  std::copy(mean, mean + 2, params.param(bn.moving_mean_variable));
  std::copy(variance, variance + 2, params.param(bn.moving_variance_variable));
  auto backend = kernels::CreateCpuBackend();
  const std::vector<float> x = {4.0f, 2.0f};
  const float* y = model->Forward(*backend, x.data(), 1, ForwardMode{true, 0, 0, 0}, false);
  EXPECT_NEAR(y[0], 2.0 * 3.0 / std::sqrt(3.001), 1e-5);
  EXPECT_NEAR(y[1], 0.5 * 3.0 / std::sqrt(0.501), 1e-5);
  std::vector<float> dy = {1.0f, -2.0f};
  model->Backward(*backend, x.data(), dy.data(), 1, false);
  const float* dense_bias = params.grad(model->layers()[0].bias_variable);
  EXPECT_NEAR(dense_bias[0], 2.0 / std::sqrt(3.001), 1e-5);
  EXPECT_NEAR(dense_bias[1], -2.0 * 0.5 / std::sqrt(0.501), 1e-5);
}

// SGD at rate 1 with global_clipnorm 1: gamma and beta's gradients [3, 0] and
// [0, 4] (norm 5) scale by 1/5; the moving statistics' slots (100) count for
// nothing and their values stay.
TEST(BatchNormModelTest, GlobalClipNormIgnoresTheMovingStatistics) {
  auto model = CreateModel(kBatchNorm, 1);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 1);
  config::OptimizerConfig config;
  config.set_learning_rate(1.0f);
  config.mutable_sgd();
  config.set_global_clipnorm(1.0f);
  auto optimizer = optimizer::Optimizer::Create(config, model->parameters());
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  model::ParameterStore& params = model->parameters();
  const float grads[8] = {3, 0, 0, 4, 100, 100, 100, 100};
  std::copy(grads, grads + 8, params.grads());
  (*optimizer)->Apply(*backend, params.params(), params.grads());
  const std::vector<float> after(params.params(), params.params() + 8);
  EXPECT_NEAR(after[0], 1.0 - 0.6, 1e-6);
  EXPECT_NEAR(after[1], 1.0, 1e-6);
  EXPECT_NEAR(after[2], 0.0, 1e-6);
  EXPECT_NEAR(after[3], -0.8, 1e-6);
  EXPECT_EQ(after[4], 0.0f);  // moving_mean
  EXPECT_EQ(after[6], 1.0f);  // moving_variance
}

// One epoch of one step over all 96 examples with momentum 0: the moving
// statistics become the data's per-feature mean and biased variance, computed
// here in double from the dataset.
TEST(BatchNormModelTest, TrainerStepMovesTheStatistics) {
  config::JobConfig job = testing::SmallJob(
      "layers { batch_normalization { momentum: 0 } } layers { dense { units: 3 } }", 1);
  job.mutable_training()->set_batch_size(96);
  const data::Dataset train = testing::SeparableDataset(96, 1);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  testing::OneRankPlanner planner(&train, 96, /*shuffle=*/false);
  ASSERT_TRUE((*trainer)->Fit(&planner, nullptr, {}).ok());
  const Model& model = (*trainer)->model();
  const Model::Layer& bn = model.layers()[0];
  const model::ParameterStore& params = model.parameters();
  const float* moving_mean = params.params() + params.variable(bn.moving_mean_variable).offset;
  const float* moving_variance =
      params.params() + params.variable(bn.moving_variance_variable).offset;
  for (int f = 0; f < 12; ++f) {
    double sum = 0, square_sum = 0;
    for (int i = 0; i < 96; ++i) sum += train.features[static_cast<size_t>(i * 12 + f)];
    const double mean = sum / 96;
    for (int i = 0; i < 96; ++i) {
      const double d = train.features[static_cast<size_t>(i * 12 + f)] - mean;
      square_sum += d * d;
    }
    EXPECT_NEAR(moving_mean[f], mean, 1e-5) << f;
    EXPECT_NEAR(moving_variance[f], square_sum / 96, 1e-5) << f;
  }
}

}  // namespace
}  // namespace shardtrain
