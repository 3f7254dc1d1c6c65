// OptimizerFromKerasFile reads back what KerasOptimizerJson writes (Keras 3
// compile_config and tf.keras 2 training_config, every optimizer kind,
// clipping, weight decay and schedule), reads the optimizers of the files
// real Keras wrote, and names the field of what it cannot honour.
#include "worker/optimizer/keras_optimizer_read.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <fstream>

#include "storage/keras/keras_files.h"
#include "worker/optimizer/keras_optimizer_json.h"

namespace shardtrain::optimizer {
namespace {

using Json = nlohmann::ordered_json;

config::OptimizerConfig Parse(const std::string& text) {
  config::OptimizerConfig optimizer;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &optimizer)) << text;
  return optimizer;
}

// The config JSON of a file whose optimizer Keras serialized as KerasOptimizerJson does.
std::string ModelConfigWith(const Json& optimizer) {
  return Json{{"class_name", "Sequential"}, {"compile_config", {{"optimizer", optimizer}}}}.dump();
}
std::string TrainingConfigWith(const Json& optimizer) {
  return Json{{"loss", "mse"}, {"optimizer_config", optimizer}}.dump();
}

TEST(KerasOptimizerReadTest, ReadsBackWhatWeWriteInBothKerasForms) {
  for (const char* text : {
           "adam {}",
           "learning_rate: 0.02 adam { beta_1: 0.8 beta_2: 0.99 epsilon: 1e-5 } clipnorm: 1.5",
           "adamw {}",
           "learning_rate: 0.003 adamw { beta_2: 0.95 } weight_decay: 0.01 global_clipnorm: 2",
           "learning_rate: 0.1 sgd { momentum: 0.9 nesterov: true } clipvalue: 0.5",
           "sgd {}",
           "rmsprop { rho: 0.8 momentum: 0.1 epsilon: 1e-6 }",
           "adam {} learning_rate_schedule { exponential_decay { initial_learning_rate: 0.01 "
           "decay_steps: 100 decay_rate: 0.5 staircase: true } }",
           "sgd {} learning_rate_schedule { inverse_time_decay { initial_learning_rate: 0.1 "
           "decay_steps: 10 decay_rate: 2 } }",
           "adam {} learning_rate_schedule { piecewise_constant_decay { boundaries: [10, 20] "
           "values: [0.1, 0.01, 0.001] } }",
           "adamw {} learning_rate_schedule { cosine_decay { initial_learning_rate: 0 "
           "decay_steps: 1000 alpha: 0.1 warmup_target: 0.001 warmup_steps: 50 } }",
       }) {
    const config::OptimizerConfig original = Parse(text);
    for (bool keras3 : {true, false}) {
      const Json written = KerasOptimizerJson(original, keras3);
      auto read = keras3 ? OptimizerFromKerasFile(ModelConfigWith(written), "")
                         : OptimizerFromKerasFile("", TrainingConfigWith(written));
      ASSERT_TRUE(read.ok()) << text << ": " << read.status();
      // Same optimizer as Keras would rebuild it: the same serialization.
      EXPECT_EQ(KerasOptimizerJson(*read, keras3).dump(), written.dump())
          << text << (keras3 ? " (Keras 3)" : " (tf.keras 2)");
    }
  }
}

TEST(KerasOptimizerReadTest, ReadsTheOptimizersRealKerasWrote) {
  const std::string dir = std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/keras/";
  if (!std::ifstream(dir + "README.md").good()) GTEST_SKIP() << "shared/testdata/keras absent";
  struct Case {
    const char* file;
    float learning_rate;
  };
  for (const Case& c : {Case{"k3_seq_mlp.keras", 0.001f}, Case{"profile_min.keras", 0.0005f},
                        Case{"k3_seq_mlp.legacy.h5", 0.001f}, Case{"profile_legacy.h5", 0.0005f},
                        Case{"mlcommons_tiny_str_ww_ref_model_tfk2.14.h5", 1e-6f},
                        Case{"hls4ml_svhn_grayscale_mlp.h5", 1e-4f}}) {
    auto file = storage::keras::ReadKerasFile(dir + c.file);
    ASSERT_TRUE(file.ok()) << file.status();
    auto read = OptimizerFromKerasFile(file->model_config_json, file->training_config_json);
    ASSERT_TRUE(read.ok()) << c.file << ": " << read.status();
    EXPECT_TRUE(read->has_adam()) << c.file;
    EXPECT_FLOAT_EQ(read->learning_rate(), c.learning_rate) << c.file;
    EXPECT_FALSE(read->adam().has_beta_1()) << c.file << ": Keras's default is left unset";
  }
}

TEST(KerasOptimizerReadTest, WhatCannotBeHonouredIsNamed) {
  struct Case {
    const char* optimizer_json;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"class_name": "Nadam", "config": {}})", "unsupported optimizer class Nadam"},
           Case{R"({"class_name": "Adam", "config": {"amsgrad": true}})", ".amsgrad"},
           Case{R"({"class_name": "RMSprop", "config": {"centered": true}})", ".centered"},
           Case{R"({"class_name": "Adam", "config": {"learning_rate": "0.1"}})", ".learning_rate"},
           Case{R"({"class_name": "SGD", "config": {"decay": 0.01}})", ".decay"},
           Case{R"({"class_name": "Adam", "config": {"learning_rate": {"class_name": "Foo",
                "config": {}}}})", "unsupported learning-rate schedule Foo"},
           Case{R"({"class_name": "Adam", "config": {"learning_rate": {"class_name":
                "ExponentialDecay", "config": {"initial_learning_rate": 1}}}})", ".decay_steps"},
       }) {
    auto read = OptimizerFromKerasFile("", TrainingConfigWith(Json::parse(c.optimizer_json)));
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << c.optimizer_json;
    EXPECT_NE(read.status().message().find(c.field), std::string::npos) << read.status();
  }
  EXPECT_EQ(OptimizerFromKerasFile(R"({"class_name": "Sequential"})", "").status().code(),
            StatusCode::kNotFound);
  auto named = OptimizerFromKerasFile(ModelConfigWith("sgd"), "");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_TRUE(named->has_sgd());
}

}  // namespace
}  // namespace shardtrain::optimizer
