// KerasOptimizerJson (worker/optimizer/keras_optimizer_json.h): the optimizer
// entry as Keras's get_config() writes it, schedules serialized as
// keras.optimizers.schedules.serialize does, and, for jobs without the new
// fields, the same JSON the legacy .h5 training_config has today.
#include "worker/optimizer/keras_optimizer_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "google/protobuf/text_format.h"
#include "worker/model/keras_json.h"

namespace shardtrain::optimizer {
namespace {

config::OptimizerConfig Parse(const std::string& text) {
  config::OptimizerConfig config;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &config)) << text;
  return config;
}

TEST(KerasOptimizerJsonTest, PlainOptimizersMatchTheTrainingConfigJson) {
  for (const char* text : {"adam { }", "adam { beta_1: 0.8 } learning_rate: 0.01",
                           "sgd { momentum: 0.9 nesterov: true }", "rmsprop { rho: 0.95 }"}) {
    config::JobConfig job;
    *job.mutable_optimizer() = Parse(text);
    const auto training = nlohmann::ordered_json::parse(model::KerasTrainingConfigJson(job));
    EXPECT_EQ(KerasOptimizerJson(job.optimizer(), false).dump(),
              training["optimizer_config"].dump())
        << text;
  }
}

TEST(KerasOptimizerJsonTest, AdamWWithScheduleAndClippingAsKeras3WritesThem) {
  const auto json = KerasOptimizerJson(
      Parse("adamw { } global_clipnorm: 1 learning_rate_schedule { exponential_decay { "
            "initial_learning_rate: 0.5 decay_steps: 100 decay_rate: 0.25 staircase: true } }"),
      true);
  EXPECT_EQ(
      json.dump(),
      R"({"module":"keras.optimizers","class_name":"AdamW","config":{"name":"adamw",)"
      R"("learning_rate":{"module":"keras.optimizers.schedules","class_name":"ExponentialDecay",)"
      R"("config":{"initial_learning_rate":0.5,"decay_steps":100,"decay_rate":0.25,)"
      R"("staircase":true,"name":"ExponentialDecay"},"registered_name":null},)"
      R"("weight_decay":0.004000000189989805,"global_clipnorm":1.0,"beta_1":0.8999999761581421,)"
      R"("beta_2":0.9990000128746033,"epsilon":1.0000000116860974e-07,"amsgrad":false},)"
      R"("registered_name":null})");
}

TEST(KerasOptimizerJsonTest, SchedulesSerializeWithKerasNames) {
  auto cosine = KerasScheduleJson(
      Parse("learning_rate_schedule { cosine_decay { initial_learning_rate: 0 decay_steps: 8 "
            "warmup_target: 0.5 warmup_steps: 4 } }")
          .learning_rate_schedule(),
      true);
  EXPECT_EQ(cosine["class_name"], "CosineDecay");
  EXPECT_EQ(cosine["config"].dump(),
            R"({"initial_learning_rate":0.0,"decay_steps":8,"alpha":0.0,"name":"CosineDecay",)"
            R"("warmup_target":0.5,"warmup_steps":4})");
  auto piecewise = KerasScheduleJson(
      Parse("learning_rate_schedule { piecewise_constant_decay { boundaries: [10, 20] "
            "values: [1, 0.5, 0.25] } }")
          .learning_rate_schedule(),
      false);
  EXPECT_EQ(piecewise.dump(),
            R"({"class_name":"PiecewiseConstantDecay","config":{"boundaries":[10,20],)"
            R"("values":[1.0,0.5,0.25],"name":null}})");
  auto inverse = KerasScheduleJson(
      Parse("learning_rate_schedule { inverse_time_decay { initial_learning_rate: 1 "
            "decay_steps: 5 decay_rate: 0.5 } }")
          .learning_rate_schedule(),
      true);
  EXPECT_EQ(inverse["config"]["name"], "InverseTimeDecay");
  EXPECT_EQ(inverse["module"], "keras.optimizers.schedules");
}

TEST(KerasOptimizerJsonTest, ClipnormAndClipvalueFollowLearningRate) {
  const auto sgd = KerasOptimizerJson(Parse("sgd { } clipvalue: 0.5"), true);
  EXPECT_EQ(sgd["config"].dump(),
            R"({"name":"SGD","learning_rate":0.009999999776482582,"clipvalue":0.5,)"
            R"("momentum":0.0,"nesterov":false})");
  const auto adam = KerasOptimizerJson(Parse("adam { } clipnorm: 2 weight_decay: 0.5"), false);
  EXPECT_EQ(adam["config"]["clipnorm"], 2.0);
  EXPECT_EQ(adam["config"]["weight_decay"], 0.5);
  EXPECT_EQ(adam["class_name"], "Adam");
}

}  // namespace
}  // namespace shardtrain::optimizer
