// ValidateJobConfig on the loss and optimizer fields: binary_crossentropy,
// training.class_weight and optimizer hyperparameters out of their valid
// range (issue 24: `adam { epsilon: 0 }` trained to NaN) are InvalidArgument
// naming the field, before any data is read.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "worker/job_config.h"

namespace shardtrain {
namespace {

constexpr char kSparse[] = "sparse_categorical_crossentropy { from_logits: true }";

// A job over `num_classes` classes with the text-format contents of its
// `loss`, `training` (besides batch_size and epochs) and `optimizer` messages.
struct Job {
  std::string training;
  std::string optimizer;
  std::string loss = kSparse;
  int num_classes = 3;
};

Job WithTraining(const std::string& training) {
  Job job;
  job.training = training;
  return job;
}

Job WithOptimizer(const std::string& optimizer) {
  Job job;
  job.optimizer = optimizer;
  return job;
}

Job WithLoss(const std::string& loss, int num_classes) {
  Job job;
  job.loss = loss;
  job.num_classes = num_classes;
  return job;
}

Status Validate(const Job& job) {
  const std::string text =
      "model { input_shape: [4] layers { dense { units: 3 } } }\n"
      "loss { " +
      job.loss + " }\n" + "data { dir: \"d\" num_classes: " + std::to_string(job.num_classes) +
      " }\n" + "training { batch_size: 2 epochs: 1 " + job.training + " }\n" + "optimizer { " +
      job.optimizer + " }\n";
  auto config = ParseJobConfig(text, "x");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config.status();
  return ValidateJobConfig(&*config);
}

void ExpectRefused(const Job& job, const std::string& needle) {
  const Status status = Validate(job);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument)
      << job.loss << " / " << job.training << " / " << job.optimizer << " -> " << status;
  EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " -> " << status;
}

TEST(JobConfigLossTest, ClassWeightIdsAndValuesAreChecked) {
  EXPECT_TRUE(
      Validate(WithTraining("class_weight { key: 0 value: 2 } class_weight { key: 2 value: 0 }"))
          .ok());
  ExpectRefused(WithTraining("class_weight { key: 3 value: 1 }"),
                "training.class_weight has class id 3, outside [0, data.num_classes = 3)");
  ExpectRefused(WithTraining("class_weight { key: -1 value: 1 }"), "training.class_weight");
  ExpectRefused(WithTraining("class_weight { key: 1 value: -2 }"),
                "training.class_weight of class 1 is -2");
  ExpectRefused(WithTraining("class_weight { key: 1 value: inf }"), "finite and >= 0");
  ExpectRefused(WithTraining("class_weight { key: 1 value: nan }"), "finite and >= 0");
}

TEST(JobConfigLossTest, BinaryCrossentropyNeedsTwoClasses) {
  const std::string binary = "binary_crossentropy { from_logits: true }";
  ExpectRefused(WithLoss(binary, 3),
                "binary_crossentropy needs labels 0 and 1 (data.num_classes: 2)");
  EXPECT_TRUE(Validate(WithLoss(binary, 2)).ok());
  ExpectRefused(WithLoss("binary_crossentropy { label_smoothing: 2 }", 2),
                "loss.binary_crossentropy.label_smoothing must be in [0, 1], got 2");
}

TEST(JobConfigLossTest, OptimizerHyperparametersOutOfRangeNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"adam { epsilon: 0 }", "optimizer.adam.epsilon = 0 is outside (0, 1]"},
      {"adam { epsilon: -1e-7 }", "optimizer.adam.epsilon"},
      {"adamw { epsilon: nan }", "optimizer.adamw.epsilon"},
      {"rmsprop { epsilon: 0 }", "optimizer.rmsprop.epsilon"},
      {"adam { beta_1: 1 }", "optimizer.adam.beta_1 = 1 is outside [0, 1)"},
      {"adam { beta_2: -0.5 }", "optimizer.adam.beta_2"},
      {"sgd { momentum: -0.1 }", "optimizer.sgd.momentum"},
      {"rmsprop { rho: 1 }", "optimizer.rmsprop.rho"},
      {"rmsprop { momentum: 1.5 }", "optimizer.rmsprop.momentum"},
      {"learning_rate: -0.1", "optimizer.learning_rate must be positive"},
      {"learning_rate: inf", "optimizer.learning_rate"},
      {"learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 "
       "decay_steps: 10 decay_rate: -0.5 } }",
       "exponential_decay.decay_rate must be finite and > 0"},
      {"learning_rate_schedule { inverse_time_decay { initial_learning_rate: 0.1 "
       "decay_steps: 10 decay_rate: -1 } }",
       "inverse_time_decay.decay_rate must be finite and >= 0"},
  };
  for (const auto& [optimizer, needle] : cases) ExpectRefused(WithOptimizer(optimizer), needle);
  // The edges of each range are accepted.
  EXPECT_TRUE(Validate(WithOptimizer("adam { epsilon: 1 beta_1: 0 }")).ok());
  EXPECT_TRUE(Validate(WithOptimizer("rmsprop { epsilon: 1e-10 rho: 0 }")).ok());
  EXPECT_TRUE(
      Validate(WithOptimizer("learning_rate_schedule { inverse_time_decay { "
                             "initial_learning_rate: 0.1 decay_steps: 10 decay_rate: 0 } }"))
          .ok());
}

}  // namespace
}  // namespace shardtrain
