// Model construction (Keras names, variable layout, validation) and the
// optimizer wrapper's defaults.
#include "kernels/backend.h"
#include "worker/model/model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

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
      32, kernels::SharedCpuBackend());
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
      ParseModel(
          "input_shape: [784] layers { dense { units: 512 } } layers { dense { units: 10 } }"),
      4, kernels::SharedCpuBackend());
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
    auto model = model::Model::Create(ParseModel(c.model), 8, kernels::SharedCpuBackend());
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
  EXPECT_EQ((*opt)->Describe(),
            "adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)");
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

// GELU layers: d(sum(r * output))/d(weight) from Backward against central
// finite differences, for a Dense with GELU and an Activation layer.
TEST(ModelTest, GeluLayersBackwardMatchesFiniteDifferences) {
  for (const char* text :
       {"input_shape: [3] layers { dense { units: 4 activation: GELU } } "
        "layers { dense { units: 2 } }",
        "input_shape: [3] layers { dense { units: 4 } } layers { activation { activation: "
        "GELU_APPROXIMATE } } layers { dense { units: 2 } }"}) {
    auto created = model::Model::Create(ParseModel(text), 2, kernels::SharedCpuBackend());
    ASSERT_TRUE(created.ok()) << created.status();
    model::Model& model = **created;
    auto backend = kernels::CreateCpuBackend();
    model.Initialize(*backend, 7);
    const std::vector<float> x = {0.5f, -1.2f, 2.0f, -0.3f, 0.8f, 1.5f};
    const std::vector<float> r = {1.0f, -2.0f, 0.5f, 3.0f};
    auto objective = [&] {
      const float* y = model.Forward(*backend, x.data(), 2, model::ForwardMode{}, false);
      double sum = 0;
      for (size_t i = 0; i < r.size(); ++i) sum += static_cast<double>(r[i]) * y[i];
      return sum;
    };
    objective();
    std::vector<float> grad_output = r;
    model.Forward(*backend, x.data(), 2, model::ForwardMode{true, 1, 0, 0}, false);
    model.Backward(*backend, x.data(), grad_output.data(), 2, false);
    model::ParameterStore& params = model.parameters();
    const std::vector<float> analytic(params.grads(), params.grads() + params.size());
    for (int64_t i = 0; i < 12; ++i) {  // the first kernel, below the GELU
      float& w = params.params()[i];
      const float saved = w, h = 1e-2f;
      w = saved + h;
      const double up = objective();
      w = saved - h;
      const double down = objective();
      w = saved;
      EXPECT_NEAR(analytic[static_cast<size_t>(i)], (up - down) / (2 * h), 2e-3)
          << text << " " << i;
    }
  }
}

// Keras: penalty = l1 * sum|w| + l2 * sum w^2 over trainable kernels (not
// biases, not frozen layers); gradient l1 * sign(w) + 2 * l2 * w.
TEST(ModelTest, KernelRegularizerPenaltyAndGradientMatchHandReference) {
  auto created = model::Model::Create(
      ParseModel("input_shape: [2] "
                 "layers { dense { units: 2 kernel_regularizer { l2: 0.01 } } trainable: false } "
                 "layers { dense { units: 2 kernel_regularizer { l1: 0.1 l2: 0.5 } } } "
                 "layers { dense { units: 1 kernel_regularizer { l1: 0.25 } } }"),
      1, kernels::SharedCpuBackend());
  ASSERT_TRUE(created.ok()) << created.status();
  model::Model& model = **created;
  model::ParameterStore& params = model.parameters();
  // Kernels (2x2, 2x2, 2x1) and biases, in variable order.
  const std::vector<float> frozen = {1, 2, 3, 4}, hidden = {0.5f, -1.0f, 0.0f, 2.0f},
                           head = {-3.0f, 0.25f};
  std::copy(frozen.begin(), frozen.end(), params.param(0));
  std::copy(hidden.begin(), hidden.end(), params.param(2));
  std::copy(head.begin(), head.end(), params.param(4));
  for (int b : {1, 3, 5}) params.param(b)[0] = 100.0f;  // biases: never penalized
  std::fill(params.grads(), params.grads() + params.size(), 1.0f);
  // 0.1 * 3.5 + 0.5 * 5.25 + 0.25 * 3.25.
  const double expected = 0.35 + 2.625 + 0.8125;
  EXPECT_NEAR(model.RegularizationPenalty(), expected, 1e-6);
  EXPECT_NEAR(model.AddRegularizationGradients(), expected, 1e-6);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(params.grad(0)[i], 1.0f);  // frozen: untouched
  const std::vector<float> hidden_grad = {1 + 0.1f + 0.5f, 1 - 0.1f - 1.0f, 1.0f, 1 + 0.1f + 2.0f};
  for (int64_t i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(params.grad(2)[i], hidden_grad[i]) << i;
  EXPECT_FLOAT_EQ(params.grad(4)[0], 1 - 0.25f);
  EXPECT_FLOAT_EQ(params.grad(4)[1], 1 + 0.25f);
  for (int b : {1, 3, 5}) EXPECT_EQ(params.grad(b)[0], 1.0f);
}

TEST(ModelTest, RejectsNegativeOrNonFiniteRegularizer) {
  for (const char* factor : {"l2: -0.01", "l1: inf", "l1: nan"}) {
    auto model = model::Model::Create(
        ParseModel(std::string("input_shape: [2] layers { dense { units: 2 kernel_regularizer { ") +
                   factor + " } } }"),
        1, kernels::SharedCpuBackend());
    ASSERT_FALSE(model.ok()) << factor;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(model.status().message().find("kernel_regularizer l1 and l2 must be finite"),
              std::string::npos)
        << model.status();
  }
}

// Issue 24: huge sizes failed with std::bad_alloc/length_error. They are
// ResourceExhausted before anything is allocated, naming the memory needed.
TEST(ModelTest, HugeSizesAreResourceExhaustedNamingTheMemoryNeeded) {
  auto dense_model = [](int64_t input, int64_t units) {
    config::ModelConfig config;
    config.add_input_shape(input);
    config.add_layers()->mutable_dense()->set_units(units);
    return config;
  };
  struct Case {
    config::ModelConfig config;
    int64_t max_batch;
  };
  config::ModelConfig square_input = dense_model(1000000000000, 2);
  square_input.add_input_shape(1000000000000);  // [1e12, 1e12]: past int64 when multiplied
  const Case cases[] = {
      {dense_model(100000, 10000000), 32},  // 16 TB of parameters on any machine
      {dense_model(784, 1000000000000), 32},    {dense_model(784, INT64_MAX), 32},
      {dense_model(1000000000000, 10), 32},     {square_input, 32},
      {dense_model(784, 10), int64_t{1} << 31}, {dense_model(784, 10), 1000000000000},
      {dense_model(784, 10), INT64_MAX},
  };
  for (const Case& c : cases) {
    auto model = model::Model::Create(c.config, c.max_batch, kernels::SharedCpuBackend());
    ASSERT_FALSE(model.ok()) << c.config.ShortDebugString() << " batch " << c.max_batch;
    EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted) << model.status();
    EXPECT_NE(model.status().message().find("GiB of memory"), std::string::npos) << model.status();
  }
}

// Issue 24: 2,000 Dropout layers reached 4 GB. Dropouts above a dropout work
// in place and no layer keeps a mask, so their memory is one buffer.
TEST(ModelTest, StackedDropoutsShareOneBuffer) {
  config::ModelConfig config;
  config.add_input_shape(784);
  for (int i = 0; i < 2000; ++i) config.add_layers()->mutable_dropout()->set_rate(0.1f);
  config.add_layers()->mutable_dense()->set_units(10);
  auto created = model::Model::Create(config, 1024, kernels::SharedCpuBackend());
  ASSERT_TRUE(created.ok()) << created.status();
  size_t floats = 0;
  for (const model::Model::Layer& layer : (*created)->layers()) {
    const int64_t bytes =
        layer.output.bytes() + layer.grad_input.bytes() + layer.pre_activation.bytes();
    floats += static_cast<size_t>(bytes) / sizeof(float);
  }
  EXPECT_EQ(floats, 1024u * 784 + 1024u * 10);  // the first dropout's buffer and the dense's
}

// A dropout over a dropout (in place) and the mask drawn again in Backward:
// the gradient reaching the first Dense is dy * m1 * m2 / ((1 - r1)(1 - r2)).
TEST(ModelTest, StackedDropoutsBackwardRedrawsTheForwardMasks) {
  auto created = model::Model::Create(
      ParseModel("input_shape: [6] layers { dense { units: 6 } } layers { dropout { rate: 0.5 } } "
                 "layers { dropout { rate: 0.3 } } layers { dense { units: 6 use_bias: false } }"),
      4, kernels::SharedCpuBackend());
  ASSERT_TRUE(created.ok()) << created.status();
  model::Model& model = **created;
  auto backend = kernels::CreateCpuBackend();
  model.Initialize(*backend, 3);
  model::ParameterStore& params = model.parameters();
  // The head is the identity, so d(output)/d(dropout output) = 1.
  std::fill(params.param(2), params.param(2) + 36, 0.0f);
  for (int i = 0; i < 6; ++i) params.param(2)[i * 6 + i] = 1.0f;
  std::vector<float> x(24, 1.0f), dy(24, 1.0f);
  const model::ForwardMode mode{true, 11, 5, 40};
  const float* y = model.Forward(*backend, x.data(), 4, mode, false);
  std::vector<float> dropped(y, y + 24);
  model.Backward(*backend, x.data(), dy.data(), 4, false);
  // With x = 1, dense/bias's gradient is the column sum of dy after both dropouts.
  std::vector<float> ones(24, 1.0f), expected(24);
  std::vector<uint8_t> mask(24);
  backend->DropoutForward({11, 5, 1, 40 * 6}, 0.5f, ones.data(), expected.data(), mask.data(), 24);
  backend->DropoutForward({11, 5, 2, 40 * 6}, 0.3f, expected.data(), expected.data(), mask.data(),
                          24);
  for (int j = 0; j < 6; ++j) {
    float column = 0;
    for (int b = 0; b < 4; ++b) column += expected[static_cast<size_t>(b * 6 + j)];
    EXPECT_FLOAT_EQ(params.grad(1)[j], column) << j;
  }
  // The forward dropped the same elements.
  for (size_t i = 0; i < 24; ++i) EXPECT_EQ(dropped[i] == 0.0f, expected[i] == 0.0f) << i;
}

}  // namespace
}  // namespace shardtrain
