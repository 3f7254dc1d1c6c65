// Model construction (Keras names, variable layout, validation) and the
// optimizer wrapper's defaults.
#include "worker/model/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "worker/job_config.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain {
namespace {

config::ModelConfig ParseModel(const std::string& text) {
  auto job = ParseJobConfig("model { " + text + " }", "test");
  EXPECT_TRUE(job.ok()) << job.status();
  return job->model();
}

TEST(ModelTest, TutorialModelHasKerasNamesAndOneContiguousBuffer) {
  auto model = model::Model::Create(
      ParseModel("input_shape: [28, 28] layers { flatten {} } "
                 "layers { dense { units: 512 activation: RELU } } "
                 "layers { dropout { rate: 0.2 } } layers { dense { units: 10 } }"),
      32);
  ASSERT_TRUE(model.ok()) << model.status();
  const model::ParameterStore& params = (*model)->parameters();
  EXPECT_EQ(params.size(), 407050);  // model.summary() of the tutorial
  ASSERT_EQ(params.num_variables(), 4);
  EXPECT_EQ(params.variable(0).name, "dense/kernel");
  EXPECT_EQ(params.variable(0).shape, (Shape{784, 512}));
  EXPECT_EQ(params.variable(1).name, "dense/bias");
  EXPECT_EQ(params.variable(1).offset, 784 * 512);
  EXPECT_EQ(params.variable(2).name, "dense_1/kernel");
  EXPECT_EQ(params.variable(3).name, "dense_1/bias");
  EXPECT_EQ(params.variable(3).offset, 407040);
  EXPECT_EQ((*model)->layers()[0].name, "flatten");
  EXPECT_EQ((*model)->layers()[2].name, "dropout");
  EXPECT_EQ((*model)->input_size(), 784);
  EXPECT_EQ((*model)->output_size(), 10);
}

TEST(ModelTest, InitializationIsGlorotKernelsAndZeroBiases) {
  auto model = model::Model::Create(
      ParseModel("input_shape: [784] layers { dense { units: 512 } } layers { dense { units: 10 } }"),
      4);
  ASSERT_TRUE(model.ok());
  auto backend = kernels::CreateCpuBackend();
  (*model)->Initialize(*backend, 1);
  model::ParameterStore& params = (*model)->parameters();
  float limit = std::sqrt(6.0f / (784 + 512));
  double sum_sq = 0;
  for (int64_t i = 0; i < 784 * 512; ++i) {
    float w = params.param(0)[i];
    ASSERT_LE(std::fabs(w), limit);
    sum_sq += w * w;
  }
  EXPECT_NEAR(sum_sq / (784 * 512), limit * limit / 3, 0.01 * limit * limit);
  for (int64_t i = 0; i < 512; ++i) ASSERT_EQ(params.param(1)[i], 0.0f);
}

TEST(ModelTest, RejectsBadLayersNamingThem) {
  struct Case {
    const char* model;
    const char* expected;
  };
  const Case cases[] = {
      {"input_shape: [28, 28] layers { dense { units: 4 } }", "add `layers { flatten {} }`"},
      {"input_shape: [4] layers { dense { units: 0 } }", "dense.units must be positive"},
      {"input_shape: [4] layers { dense { units: 2 } } layers { dropout { rate: 1.5 } }",
       "'dropout'): dropout.rate must be in [0, 1)"},
      {"layers { dense { units: 2 } }", "model.input_shape is empty"},
      {"input_shape: [4] layers { dropout { rate: 0.1 } }", "no layer has trainable variables"},
      {"input_shape: [4] layers { }", "model.layers[0]: a layer needs one of"},
  };
  for (const Case& c : cases) {
    auto model = model::Model::Create(ParseModel(c.model), 8);
    ASSERT_FALSE(model.ok()) << c.model;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(model.status().message().find(c.expected), std::string::npos)
        << c.model << " -> " << model.status();
  }
}

TEST(OptimizerTest, KerasDefaultsAndSlots) {
  config::OptimizerConfig adam;
  adam.mutable_adam();
  auto opt = optimizer::Optimizer::Create(adam, 10);
  ASSERT_TRUE(opt.ok());
  EXPECT_EQ((*opt)->Describe(), "adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)");
  EXPECT_EQ((*opt)->slot_names(), (std::vector<std::string>{"m", "v"}));

  config::OptimizerConfig sgd;
  sgd.mutable_sgd()->set_momentum(0.9f);
  opt = optimizer::Optimizer::Create(sgd, 10);
  ASSERT_TRUE(opt.ok());
  EXPECT_FLOAT_EQ((*opt)->learning_rate(), 0.01f);
  EXPECT_EQ((*opt)->slot_names(), (std::vector<std::string>{"momentum"}));

  config::OptimizerConfig bad;
  bad.mutable_adam()->set_beta_1(1.0f);
  opt = optimizer::Optimizer::Create(bad, 10);
  ASSERT_FALSE(opt.ok());
  EXPECT_EQ(opt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opt.status().message().find("optimizer.adam.beta_1"), std::string::npos);
}

TEST(OptimizerTest, OneAdamStepMovesEachWeightByLearningRate) {
  // With m = v = 0, the first Adam step is lr * g / (|g| + eps / sqrt(1 - b2)) ≈ lr * sign(g).
  config::OptimizerConfig adam;
  adam.mutable_adam();
  auto opt = optimizer::Optimizer::Create(adam, 3);
  ASSERT_TRUE(opt.ok());
  auto backend = kernels::CreateCpuBackend();
  float w[3] = {1.0f, 1.0f, 1.0f};
  const float g[3] = {0.5f, -2.0f, 0.0f};
  (*opt)->Apply(*backend, w, g);
  EXPECT_NEAR(w[0], 1.0f - 1e-3f, 1e-6f);
  EXPECT_NEAR(w[1], 1.0f + 1e-3f, 1e-6f);
  EXPECT_EQ(w[2], 1.0f);
  EXPECT_EQ((*opt)->iterations(), 1);
}

}  // namespace
}  // namespace shardtrain
