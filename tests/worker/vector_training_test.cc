// One training step on VECTOR labels (data.label { kind: VECTOR }): the
// trainer hands the batch's target vectors to the loss (categorical
// cross-entropy on soft targets, multi-label binary cross-entropy, mean
// squared error over 3 values), and the SGD update of a 2-3 dense layer equals
// the one computed by hand in tests/worker/loss_reference.py ("one SGD step").
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

// A 2-3 linear model trained with `loss` by SGD at rate 0.5 on 3-value labels.
config::JobConfig VectorJob(const std::string& loss) {
  const std::string text =
      "model { input_shape: [2] layers { dense { units: 3 } } }\n"
      "loss { " +
      loss +
      " }\n"
      "optimizer { learning_rate: 0.5 sgd { } }\n"
      "training { batch_size: 2 epochs: 1 seed: 5 }\n"
      "data { dir: \"unused\" num_classes: 3 label { kind: VECTOR size: 3 } }";
  auto config = ParseJobConfig(text, "vector job");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config::JobConfig();
  const Status valid = ValidateJobConfig(&*config);
  EXPECT_TRUE(valid.ok()) << valid;
  return *config;
}

struct Expected {
  std::string loss;
  std::vector<float> targets;  // (2, 3)
  double loss_sum;
  std::vector<double> kernel, bias;
};

TEST(VectorTrainingTest, OneSgdStepMatchesTheHandComputedUpdate) {
  const Expected cases[] = {
      {"categorical_crossentropy { from_logits: true }",
       {0, 0, 1, 0.25f, 0.75f, 0},
       2.96587493,
       {-0.0297839403, -0.337789378, 0.567573329, 0.0463401849, -0.0571706874, -0.0891694916},
       {-0.155057491, -0.0130629256, 0.168120417}},
      {"binary_crossentropy { from_logits: true }",
       {1, 0, 1, 0, 1, 0.5f},
       1.37616281,
       {0.168026224, -0.275032807, 0.34450436, 0.424087899, -0.0536968266, -0.383046389},
       {0.0284545818, -0.0479377794, 0.0668602803}},
      {"mean_squared_error { }",
       {0.5f, -1, 2, 0, 0.25f, 1},
       3.49666666,
       {0.0499999995, -0.341666669, 0.491666675, 0.237500001, -0.241666666, 0.529166664},
       {-0.050000002, -0.158333334, 0.708333333}},
  };
  for (const Expected& expected : cases) {
    SCOPED_TRACE(expected.loss);
    auto backend = kernels::CreateCpuBackend();
    auto trainer = Trainer::Create(VectorJob(expected.loss), backend.get());
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    model::ParameterStore& params = (*trainer)->model().parameters();
    ASSERT_EQ(params.size(), 9);
    const std::vector<float> start = {0.1f, -0.2f, 0.3f, 0.4f, 0.0f, -0.5f, 0.05f, -0.05f, 0.0f};
    ASSERT_EQ(params.variable(0).name, "dense/kernel");
    std::copy(start.begin(), start.end(), params.params());

    data::Dataset batch;
    batch.num_examples = 2;
    batch.feature_size = 2;
    batch.features = {1, 2, -1, 0.5f};
    batch.label_width = 3;
    batch.label_values = expected.targets;
    StepResult result;
    const loss::Targets targets = data::TargetsOf(batch, 0);
    ASSERT_TRUE((*trainer)->Step(batch.features.data(), targets, {2, 0, 2}, &result).ok());
    EXPECT_NEAR(result.loss_sum, expected.loss_sum, 1e-5);
    EXPECT_EQ(result.examples, 2);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(params.params()[i], expected.kernel[i], 1e-6) << i;
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(params.params()[6 + j], expected.bias[j], 1e-6) << j;
  }
}

// "accuracy" on VECTOR labels is Keras's categorical accuracy: the argmax of
// the output against the argmax of the target vector.
TEST(VectorTrainingTest, AccuracyComparesArgmaxes) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer =
      Trainer::Create(VectorJob("categorical_crossentropy { from_logits: true }"), backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  model::ParameterStore& params = (*trainer)->model().parameters();
  // Logits = x: the identity on the first two units, the third always 0.
  const std::vector<float> identity = {1, 0, 0, 0, 1, 0, 0, 0, 0};
  std::copy(identity.begin(), identity.end(), params.params());
  data::Dataset val;
  val.num_examples = 3;
  val.feature_size = 2;
  val.features = {2, 1, -1, -2, 0, 3};  // argmax 0, 2, 1
  val.label_width = 3;
  val.label_values = {0.7f, 0.3f, 0, 0, 0, 1, 1, 0, 0};  // argmax 0, 2, 0
  auto result = (*trainer)->Evaluate(val);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->accuracy, 2.0 / 3);
}

// ValidateJobConfig refuses, naming them, a loss, a metric and a class_weight
// that have no meaning for VECTOR labels.
TEST(VectorTrainingTest, JobValidationChecksTheLabelKind) {
  const std::string base =
      "model { input_shape: [2] layers { dense { units: 3 } } }\n"
      "optimizer { sgd { } }\n"
      "data { dir: \"unused\" num_classes: 3 label { kind: VECTOR size: 3 } }\n";
  const std::pair<std::string, std::string> bad[] = {
      {"loss { sparse_categorical_crossentropy { from_logits: true } } training { batch_size: 2 "
       "epochs: 1 }",
       "sparse_categorical_crossentropy needs integer class ids"},
      {"loss { mean_squared_error { } } training { batch_size: 2 epochs: 1 } metrics: "
       "'sparse_top_k_categorical_accuracy'",
       "'sparse_top_k_categorical_accuracy' needs integer class ids"},
      {"loss { mean_squared_error { } } training { batch_size: 2 epochs: 1 class_weight { key: 0 "
       "value: 2 "
       "} }",
       "training.class_weight needs a class per example"},
  };
  for (const auto& [extra, message] : bad) {
    auto config = ParseJobConfig(base + extra, "vector job");
    ASSERT_TRUE(config.ok()) << config.status();
    const Status status = ValidateJobConfig(&*config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << extra;
    EXPECT_NE(status.message().find(message), std::string::npos) << status;
  }
}

}  // namespace
}  // namespace shardtrain
