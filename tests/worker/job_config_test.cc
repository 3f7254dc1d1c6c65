// Job config parsing and validation: errors name file:line:col or the field.
#include "worker/job_config.h"

#include <gtest/gtest.h>

#include <fstream>

namespace shardtrain {
namespace {

constexpr char kValid[] = R"pb(
  name: "t"
  model { input_shape: [4] layers { dense { units: 3 } } }
  loss { sparse_categorical_crossentropy { from_logits: true } }
  data { dir: "d" num_classes: 3 }
  training { batch_size: 2 epochs: 1 }
)pb";

TEST(JobConfigTest, ParsesAndFillsDefaults) {
  auto config = ParseJobConfig(kValid, "x.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateJobConfig(&*config).ok());
  EXPECT_EQ(config->training().run_dir(), "runs/t");
  EXPECT_EQ(config->training().device(), "auto");
  EXPECT_TRUE(config->training().shuffle());
  EXPECT_EQ(config->model().layers(0).dense().units(), 3);
}

TEST(JobConfigTest, UnknownFieldNamesFileLineAndColumn) {
  auto config = ParseJobConfig("name: \"t\"\ntraining {\n  batch_sise: 3\n}\n", "job.textproto");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("job.textproto:3:"), std::string::npos)
      << config.status();
  EXPECT_NE(config.status().message().find("batch_sise"), std::string::npos) << config.status();
}

TEST(JobConfigTest, WrongValueTypeIsAParseError) {
  auto config = ParseJobConfig("training { epochs: \"ten\" }", "j.textproto");
  ASSERT_EQ(config.status().code(), StatusCode::kInvalidArgument) << config.status();
  EXPECT_NE(config.status().message().find("j.textproto:1:"), std::string::npos);
}

TEST(JobConfigTest, MissingFileIsNotFound) {
  auto config = LoadJobConfig("/nonexistent/job.textproto");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
  EXPECT_NE(config.status().message().find("/nonexistent/job.textproto"), std::string::npos);
}

TEST(JobConfigTest, ShippedTutorialConfigLoads) {
  auto config = LoadJobConfig(std::string(SHARDTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateJobConfig(&*config).ok());
  EXPECT_EQ(config->training().batch_size(), 32);
  EXPECT_EQ(config->training().epochs(), 10);
  ASSERT_EQ(config->model().layers_size(), 3);
  EXPECT_EQ(config->model().layers(0).dense().units(), 512);
  EXPECT_FLOAT_EQ(config->model().layers(1).dropout().rate(), 0.2f);
  EXPECT_EQ(config->model().layers(2).dense().units(), 10);
  EXPECT_TRUE(config->loss().sparse_categorical_crossentropy().from_logits());
}

TEST(JobConfigTest, OverridesReplaceFileValues) {
  auto config = ParseJobConfig(kValid, "x");
  ASSERT_TRUE(config.ok());
  JobOverrides overrides;
  overrides.epochs = 7;
  overrides.batch_size = 64;
  overrides.seed = 9;
  overrides.learning_rate = 0.5f;
  overrides.data_dir = "elsewhere";
  overrides.train_examples = 1000;
  ApplyOverrides(overrides, &*config);
  EXPECT_EQ(config->training().epochs(), 7);
  EXPECT_EQ(config->training().batch_size(), 64);
  EXPECT_EQ(config->training().seed(), 9u);
  EXPECT_FLOAT_EQ(config->optimizer().learning_rate(), 0.5f);
  EXPECT_EQ(config->data().dir(), "elsewhere");
  EXPECT_EQ(config->data().train_examples(), 1000);
}

TEST(JobConfigTest, ValidationNamesTheField) {
  using Edit = void (*)(config::JobConfig*);
  const std::pair<Edit, const char*> cases[] = {
      {[](config::JobConfig* c) { c->mutable_training()->set_batch_size(0); }, "training.batch_size"},
      {[](config::JobConfig* c) { c->mutable_training()->set_epochs(-1); }, "training.epochs"},
      {[](config::JobConfig* c) { c->mutable_training()->set_device("tpu"); }, "training.device"},
      {[](config::JobConfig* c) { c->mutable_data()->set_num_classes(0); }, "data.num_classes"},
      {[](config::JobConfig* c) { c->mutable_data()->clear_dir(); }, "data.dir"},
      {[](config::JobConfig* c) { c->add_metrics("auc"); }, "metrics"},
      {[](config::JobConfig* c) { c->clear_loss(); }, "loss is not set"},
  };
  for (const auto& [edit, field] : cases) {
    auto config = ParseJobConfig(kValid, "x");
    ASSERT_TRUE(config.ok());
    edit(&*config);
    Status status = ValidateJobConfig(&*config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(status.message().find(field), std::string::npos) << field << " -> " << status;
  }
}

// Optimizer settings (schedules, clipping, weight decay) are checked at
// validation, before any data is read; errors name the field.
TEST(JobConfigTest, OptimizerErrorsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"optimizer { learning_rate_schedule { exponential_decay { initial_learning_rate: 0.1 "
       "decay_rate: 0.5 } } }",
       "exponential_decay.decay_steps must be > 0"},
      {"optimizer { learning_rate_schedule { piecewise_constant_decay { boundaries: [5] "
       "values: [1] } } }",
       "piecewise_constant_decay"},
      {"optimizer { clipnorm: 1 global_clipnorm: 1 }", "only one of clipnorm"},
      {"optimizer { adamw { } weight_decay: -1 }", "optimizer.weight_decay"},
  };
  for (const auto& [text, field] : cases) {
    auto config = ParseJobConfig(std::string(kValid) + text, "x");
    ASSERT_TRUE(config.ok()) << config.status();
    Status status = ValidateJobConfig(&*config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(status.message().find(field), std::string::npos) << field << " -> " << status;
  }
  // --learning-rate on top of a schedule is refused, naming both.
  auto config = ParseJobConfig(std::string(kValid) +
                                   "optimizer { sgd { } learning_rate_schedule { cosine_decay { "
                                   "initial_learning_rate: 0.1 decay_steps: 100 } } }",
                               "x");
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(ValidateJobConfig(&*config).ok());
  JobOverrides overrides;
  overrides.learning_rate = 0.5f;
  ApplyOverrides(overrides, &*config);
  Status status = ValidateJobConfig(&*config);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("--learning-rate"), std::string::npos) << status;
}

// The data's labels are class ids: categorical_crossentropy (one-hot labels)
// used to train on them silently; it is refused at set-up, as is MSE against a
// multi-unit output.
TEST(JobConfigTest, LossMustFitClassIdLabels) {
  auto config = ParseJobConfig(kValid, "x");
  ASSERT_TRUE(config.ok());
  config->mutable_loss()->mutable_categorical_crossentropy()->set_from_logits(true);
  Status status = ValidateJobConfig(&*config);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  for (const char* needle :
       {"categorical_crossentropy needs one-hot", "integer class ids",
        "use `loss { sparse_categorical_crossentropy { from_logits: true } }`"}) {
    EXPECT_NE(status.message().find(needle), std::string::npos) << needle << " -> " << status;
  }

  config->mutable_loss()->mutable_mean_squared_error();
  status = ValidateJobConfig(&*config);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("mean_squared_error needs labels shaped like the model's output "
                                  "(3 values per example)"),
            std::string::npos)
      << status;

  // One output unit: MSE against the label's value is accepted.
  config->mutable_model()->mutable_layers(0)->mutable_dense()->set_units(1);
  config->mutable_data()->set_num_classes(1);
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
}

}  // namespace
}  // namespace shardtrain
