// Loss: which losses fit the data's integer class-id labels (categorical
// cross-entropy never, MSE only for a one-unit output, with errors naming the
// loss, the labels' kind and the fix), and the values each computes.
#include "worker/loss/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace shardtrain::loss {
namespace {

config::LossConfig Sparse(bool from_logits) {
  config::LossConfig config;
  config.mutable_sparse_categorical_crossentropy()->set_from_logits(from_logits);
  return config;
}

config::LossConfig Categorical(bool from_logits) {
  config::LossConfig config;
  config.mutable_categorical_crossentropy()->set_from_logits(from_logits);
  return config;
}

config::LossConfig MeanSquaredError() {
  config::LossConfig config;
  config.mutable_mean_squared_error();
  return config;
}

void ExpectInvalidArgument(const Status& status, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  for (const std::string& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << "'" << needle << "' in " << status;
  }
}

TEST(LossLabelsTest, CategoricalCrossentropyOnClassIdsIsRefused) {
  ExpectInvalidArgument(CheckLossAcceptsClassIds(Categorical(true), 10),
                        {"categorical_crossentropy needs one-hot", "labels are integer class ids",
                         "sparse_categorical_crossentropy { from_logits: true }"});
  // The suggestion keeps the user's from_logits.
  ExpectInvalidArgument(CheckLossAcceptsClassIds(Categorical(false), 10),
                        {"sparse_categorical_crossentropy { from_logits: false }"});
  // Loss::Create, which every trainer calls, refuses it too.
  ExpectInvalidArgument(
      Loss::Create(Categorical(true), kernels::Activation::kLinear, 10, 4).status(),
      {"categorical_crossentropy needs one-hot", "class ids"});
}

TEST(LossLabelsTest, MeanSquaredErrorNeedsOneOutputUnitForClassIds) {
  ExpectInvalidArgument(CheckLossAcceptsClassIds(MeanSquaredError(), 10),
                        {"mean_squared_error needs labels shaped like the model's output",
                         "10 values per example", "class ids", "sparse_categorical_crossentropy"});
  ExpectInvalidArgument(
      Loss::Create(MeanSquaredError(), kernels::Activation::kLinear, 3, 4).status(),
      {"mean_squared_error", "3 values per example"});
  EXPECT_TRUE(CheckLossAcceptsClassIds(MeanSquaredError(), 1).ok());
}

TEST(LossLabelsTest, SparseCrossentropyAcceptsClassIds) {
  EXPECT_TRUE(CheckLossAcceptsClassIds(Sparse(true), 10).ok());
  EXPECT_TRUE(CheckLossAcceptsClassIds(Sparse(false), 1).ok());
}

TEST(LossTest, UnsetLossIsInvalidArgument) {
  ExpectInvalidArgument(
      Loss::Create(config::LossConfig(), kernels::Activation::kLinear, 3, 4).status(),
      {"loss is not set"});
}

TEST(LossTest, SparseCrossentropyFromLogits) {
  auto backend = kernels::CreateCpuBackend();
  auto loss = Loss::Create(Sparse(true), kernels::Activation::kLinear, 3, 2);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ(loss->name(), "sparse_categorical_crossentropy");
  const std::vector<float> logits = {0, 0, 0, 0, std::log(2.0f), 0};
  const std::vector<int32_t> labels = {2, 1};
  std::vector<float> grad(6);
  const double sum = loss->Compute(*backend, logits.data(), labels.data(), 2, grad.data(), 2.0);
  EXPECT_NEAR(sum, std::log(3.0) + std::log(2.0), 1e-6);  // -log(1/3) - log(2/4)
  EXPECT_NEAR(grad[2], (1.0 / 3.0 - 1.0) / 2.0, 1e-6);
  EXPECT_NEAR(grad[4], (0.5 - 1.0) / 2.0, 1e-6);
}

// As Keras computes MSE for an output of shape (batch, 1) and labels of shape
// (batch,): the target is the label's value (0 here), not a one-hot vector.
TEST(LossTest, MeanSquaredErrorTargetIsTheLabelValue) {
  auto backend = kernels::CreateCpuBackend();
  auto loss = Loss::Create(MeanSquaredError(), kernels::Activation::kLinear, 1, 2);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ(loss->name(), "mean_squared_error");
  EXPECT_FALSE(loss->fuses_final_softmax());
  const std::vector<float> output = {0.25f, -0.5f};
  const std::vector<int32_t> labels = {0, 0};
  std::vector<float> grad(2);
  const double sum = loss->Compute(*backend, output.data(), labels.data(), 2, grad.data(), 2.0);
  EXPECT_DOUBLE_EQ(sum, 0.0625 + 0.25);
  EXPECT_EQ(grad, (std::vector<float>{0.25f, -0.5f}));  // 2 (output - label) / 2
}

}  // namespace
}  // namespace shardtrain::loss
