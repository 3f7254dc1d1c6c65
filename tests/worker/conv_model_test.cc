// Convolutional and residual models (issue 23): output shapes and variables
// as Keras gives them, and every trainable parameter's gradient of a small
// CNN (Conv2D same/valid/strided, BatchNormalization, Add residual, MaxPool,
// AvgPool, GlobalAveragePooling2D, Reshape, Concatenate, Dense) against
// central differences of the loss computed from Forward; a Conv2D softmax
// head against sparse cross-entropy computed independently.
//
// Expected shapes and parameter counts are Keras's model.summary() of the
// same layers (the 28x28x1 CNN: 320 + 18,496 + 16,010 = 34,826 parameters).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/worker/gradient_check_util.h"
#include "worker/loss/loss.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using gradient_check::CreateModel;
using gradient_check::ExpectGradientsMatchCentralDifferences;
using gradient_check::ParseModel;
using gradient_check::Uniform;
using model::ForwardMode;
using model::Model;

TEST(ConvModelTest, FashionCnnShapesAndVariablesAreKeras) {
  auto model = CreateModel(
      "input_shape: [28, 28, 1] "
      "layers { conv2d { filters: 32 kernel_size: [3] activation: RELU } } "
      "layers { max_pooling2d {} } "
      "layers { conv2d { filters: 64 kernel_size: [3, 3] activation: RELU } } "
      "layers { max_pooling2d { pool_size: [2] } } "
      "layers { flatten {} } layers { dropout { rate: 0.5 } } layers { dense { units: 10 } }",
      8);
  ASSERT_NE(model, nullptr);
  const std::vector<Shape> expected = {{26, 26, 32}, {13, 13, 32}, {11, 11, 64}, {5, 5, 64},
                                       {1600},       {1600},       {10}};
  const std::vector<std::string> names = {"conv2d",  "max_pooling2d", "conv2d_1", "max_pooling2d_1",
                                          "flatten", "dropout",       "dense"};
  ASSERT_EQ(model->layers().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(model->layers()[i].output_shape, expected[i]) << i;
    EXPECT_EQ(model->layers()[i].name, names[i]);
    EXPECT_EQ(model->layers()[i].out_features, expected[i].num_elements());
  }
  const model::ParameterStore& params = model->parameters();
  EXPECT_EQ(params.size(), 34826);
  EXPECT_EQ(params.variable(0).name, "conv2d/kernel");
  EXPECT_EQ(params.variable(0).shape, (Shape{3, 3, 1, 32}));
  EXPECT_EQ(params.variable(1).name, "conv2d/bias");
  EXPECT_EQ(params.variable(2).shape, (Shape{3, 3, 32, 64}));
  EXPECT_EQ(model->input_name(), "input");
  EXPECT_EQ(model->input_shape(), (Shape{28, 28, 1}));
  EXPECT_EQ(model->input_size(), 784);
  EXPECT_EQ(model->output_size(), 10);
  EXPECT_FALSE(model->has_moving_statistics());
}

TEST(ConvModelTest, SameValidStridesAndGlobalPoolingShapes) {
  struct Case {
    const char* layer;
    Shape input, output;
  };
  const Case cases[] = {
      {"conv2d { filters: 8 kernel_size: [3] padding: SAME }", {28, 28, 1}, {28, 28, 8}},
      {"conv2d { filters: 8 kernel_size: [3] strides: [2] padding: SAME }",
       {28, 28, 1},
       {14, 14, 8}},
      {"conv2d { filters: 8 kernel_size: [3] strides: [2] padding: SAME }", {7, 7, 2}, {4, 4, 8}},
      {"conv2d { filters: 4 kernel_size: [5, 3] strides: [2, 1] }", {11, 9, 3}, {4, 7, 4}},
      {"max_pooling2d { pool_size: [3] strides: [2] }", {7, 7, 2}, {3, 3, 2}},
      {"max_pooling2d { padding: SAME }", {7, 7, 2}, {4, 4, 2}},
      {"average_pooling2d { pool_size: [2] strides: [1] }", {5, 5, 3}, {4, 4, 3}},
      {"global_average_pooling2d {}", {5, 4, 3}, {3}},
      {"global_average_pooling2d { keepdims: true }", {5, 4, 3}, {1, 1, 3}},
      {"reshape { target_shape: [-1, 6] }", {4, 3}, {2, 6}},
      {"batch_normalization {}", {4, 3}, {4, 3}},
  };
  for (const Case& c : cases) {
    std::string shape;
    for (int64_t d : c.input.dims()) shape += std::to_string(d) + ",";
    shape.pop_back();
    auto model = Model::Create(ParseModel("input_shape: [" + shape + "] layers { " + c.layer +
                                          " } layers { flatten {} } layers { dense { units: 1 } }"),
                               2, kernels::SharedCpuBackend());
    ASSERT_TRUE(model.ok()) << c.layer << ": " << model.status();
    EXPECT_EQ((*model)->layers()[0].output_shape, c.output) << c.layer;
  }
}

// Keras's kernel_regularizer on Conv2D as on Dense: penalty l1 sum|w| + l2
// sum w^2 over the (kh, kw, in, out) kernel, gradient l1 sign(w) + 2 l2 w.
TEST(ConvModelTest, KernelRegularizerCoversTheConvolutionKernel) {
  auto model = CreateModel(
      "input_shape: [3, 3, 1] layers { conv2d { filters: 2 kernel_size: [2] "
      "  kernel_regularizer { l1: 0.01 l2: 0.1 } } } "
      "layers { flatten {} } layers { dense { units: 1 } }",
      1);
  ASSERT_NE(model, nullptr);
  model::ParameterStore& params = model->parameters();
  const int kernel = model->layers()[0].kernel_variable;
  ASSERT_EQ(params.variable(kernel).shape, (Shape{2, 2, 1, 2}));
  const std::vector<float> w = {0.5f, -1.0f, 0.0f, 2.0f, -0.25f, 1.5f, -3.0f, 0.75f};
  std::copy(w.begin(), w.end(), params.param(kernel));
  std::fill(params.grads(), params.grads() + params.size(), 0.0f);
  double expected = 0;
  for (float v : w) expected += 0.01 * std::fabs(v) + 0.1 * v * v;
  EXPECT_NEAR(model->AddRegularizationGradients(), expected, 1e-6);
  for (size_t i = 0; i < w.size(); ++i) {
    const float sign = w[i] > 0 ? 1.0f : (w[i] < 0 ? -1.0f : 0.0f);
    EXPECT_FLOAT_EQ(params.grad(kernel)[i], 0.01f * sign + 0.2f * w[i]) << i;
  }
  auto negative = Model::Create(
      ParseModel("input_shape: [3, 3, 1] layers { conv2d { filters: 2 kernel_size: [2] "
                 "kernel_regularizer { l2: -1 } } } layers { flatten {} } "
                 "layers { dense { units: 1 } }"),
      1, kernels::SharedCpuBackend());
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(negative.status().message().find(
                "('conv2d'): conv2d.kernel_regularizer l1 and l2 must be finite and >= 0"),
            std::string::npos)
      << negative.status();
}

// Two paths merge twice: conv2d feeds batch_normalization and the residual
// Add; add feeds the max-pool branch and the valid-conv/avg-pool branch,
// which Concatenate joins before the Dense head.
constexpr char kResidualCnn[] =
    "input_shape: [8, 8, 2] "
    "layers { name: 'conv_a' conv2d { filters: 4 kernel_size: [3] padding: SAME "
    "  activation: TANH } } "
    "layers { name: 'bn' batch_normalization { momentum: 0.9 } } "
    "layers { name: 'conv_b' conv2d { filters: 4 kernel_size: [3] padding: SAME } } "
    "layers { name: 'add' inputs: ['conv_a', 'conv_b'] add {} } "
    "layers { name: 'max' max_pooling2d {} } "
    "layers { name: 'conv_c' conv2d { filters: 3 kernel_size: [3] strides: [2] padding: SAME "
    "  activation: TANH } } "
    "layers { name: 'gap' global_average_pooling2d {} } "
    "layers { name: 'conv_d' inputs: ['add'] conv2d { filters: 2 kernel_size: [3] "
    "  activation: SIGMOID } } "
    "layers { name: 'avg' average_pooling2d { pool_size: [3] strides: [2] padding: SAME } } "
    "layers { name: 'gap_keep' global_average_pooling2d { keepdims: true } } "
    "layers { name: 'flat' reshape { target_shape: [2] } } "
    "layers { name: 'cat' inputs: ['gap', 'flat'] concatenate {} } "
    "layers { dense { units: 3 } }";

TEST(ConvModelTest, ResidualCnnShapes) {
  auto model = CreateModel(kResidualCnn, 3);
  ASSERT_NE(model, nullptr);
  const std::vector<Shape> expected = {{8, 8, 4}, {8, 8, 4}, {8, 8, 4}, {8, 8, 4}, {4, 4, 4},
                                       {2, 2, 3}, {3},       {6, 6, 2}, {3, 3, 2}, {1, 1, 2},
                                       {2},       {5},       {3}};
  ASSERT_EQ(model->layers().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(model->layers()[i].output_shape, expected[i]) << model->layers()[i].name;
  }
  EXPECT_EQ(model->layers()[3].inputs, (std::vector<int>{0, 2}));
  EXPECT_EQ(model->layers()[0].inputs, (std::vector<int>{Model::kModelInput}));
  EXPECT_EQ(model->layers()[11].inputs, (std::vector<int>{6, 10}));
  EXPECT_TRUE(model->has_moving_statistics());
}

TEST(ConvModelTest, ResidualCnnGradientsMatchCentralDifferences) {
  auto model = CreateModel(kResidualCnn, 3);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 5);
  // BatchNormalization's gamma/beta away from 1/0, so their gradients are generic.
  model::ParameterStore& params = model->parameters();
  const model::Model::Layer& bn = model->layers()[1];
  const std::vector<float> gamma = Uniform(3, 4, 0.5f), beta = Uniform(4, 4, 0.5f);
  for (int c = 0; c < 4; ++c) {
    params.param(bn.gamma_variable)[c] = 1.0f + gamma[static_cast<size_t>(c)];
    params.param(bn.beta_variable)[c] = beta[static_cast<size_t>(c)];
  }
  for (int v : {model->layers()[0].bias_variable, model->layers()[2].bias_variable}) {
    const std::vector<float> bias = Uniform(static_cast<uint64_t>(v), 4, 0.2f);
    std::copy(bias.begin(), bias.end(), params.param(v));
  }
  const std::vector<float> x = Uniform(7, 3 * 8 * 8 * 2, 1.0f);
  ExpectGradientsMatchCentralDifferences(*model, x, 3, 2e-3f, 1e-3);
}

// ReLU and an unpadded strided max pool, as the reference CNN uses them.
TEST(ConvModelTest, ReluCnnGradientsMatchCentralDifferences) {
  auto model = CreateModel(
      "input_shape: [7, 7, 1] "
      "layers { conv2d { filters: 3 kernel_size: [3] activation: RELU } } "
      "layers { max_pooling2d { pool_size: [3] strides: [2] } } "
      "layers { flatten {} } layers { dense { units: 4 activation: TANH } } "
      "layers { dense { units: 2 } }",
      2);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 11);
  const std::vector<float> x = Uniform(13, 2 * 49, 1.0f);
  ExpectGradientsMatchCentralDifferences(*model, x, 2, 1e-3f, 1e-3);
}

// A Conv2D softmax head (issue 23 review): the loss's head check must see the
// Conv2D's activation. Over one pixel ([1, 1, C]) its softmax is the row
// softmax, so sparse cross-entropy (from_logits: false) is Keras's
// -log p[label]; from_logits: true is refused as for a Dense softmax head.
constexpr char kOnePixelSoftmaxHead[] =
    "input_shape: [2, 2, 1] "
    "layers { conv2d { filters: 3 kernel_size: [2] activation: SOFTMAX } } layers { flatten {} }";

config::JobConfig SparseCrossEntropyJob(bool from_logits, int64_t num_classes) {
  config::JobConfig job;
  job.mutable_loss()->mutable_sparse_categorical_crossentropy()->set_from_logits(from_logits);
  job.mutable_data()->set_num_classes(num_classes);
  return job;
}

// sum over the batch of -log p[label], p from the model's (unskipped) output.
double CrossEntropyOfOutput(Model& model, kernels::KernelBackend& backend,
                            const std::vector<float>& x, const std::vector<int32_t>& labels) {
  const int64_t batch = static_cast<int64_t>(labels.size());
  const float* p = model.Forward(backend, x.data(), batch, ForwardMode{true, 1, 0, 0}, false);
  double loss = 0;
  for (int64_t r = 0; r < batch; ++r) {
    loss -=
        std::log(static_cast<double>(p[r * model.output_size() + labels[static_cast<size_t>(r)]]));
  }
  return loss;
}

// The loss's head of `model` (what the trainer passes Loss::Create).
loss::OutputHead HeadOf(const model::Model& model) {
  return {model.final_activation(), model.final_activation_positions()};
}

// A [1, 1, C] Conv2D softmax is a row softmax: the fused loss bypasses it.
TEST(ConvModelTest, OnePixelConvSoftmaxHeadIsSparseCrossEntropy) {
  auto model = CreateModel(kOnePixelSoftmaxHead, 2);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  model->Initialize(*backend, 3);
  const std::vector<float> x = Uniform(5, 2 * 4, 1.0f);
  const std::vector<int32_t> labels = {2, 0};
  auto loss = loss::Loss::Create(*backend, SparseCrossEntropyJob(false, 3), HeadOf(*model),
                                 model->output_size(), 2);
  ASSERT_TRUE(loss.ok()) << loss.status();
  // Independently: logits_c = b_c + sum_i x_i k[i][c] (the 2x2x1 window is the input).
  model::ParameterStore& store = model->parameters();
  const float* kernel = store.param(model->layers()[0].kernel_variable);
  const float* bias = store.param(model->layers()[0].bias_variable);
  double expected = 0;
  for (int r = 0; r < 2; ++r) {
    double logits[3], norm = 0;
    for (int c = 0; c < 3; ++c) {
      logits[c] = bias[c];
      for (int i = 0; i < 4; ++i)
        logits[c] += static_cast<double>(x[r * 4 + i]) * kernel[i * 3 + c];
      norm += std::exp(logits[c]);
    }
    expected -= logits[labels[static_cast<size_t>(r)]] - std::log(norm);
  }
  EXPECT_NEAR(CrossEntropyOfOutput(*model, *backend, x, labels), expected, 1e-5);
  // The trainer's path: Forward (softmax skipped when fused), Compute, Backward.
  const bool fused = loss->fuses_final_softmax();
  const float* y = model->Forward(*backend, x.data(), 2, ForwardMode{true, 1, 0, 0}, fused);
  std::vector<float> dy(6);
  const double computed =
      loss->Compute(*backend, y, loss::Targets::ClassIds(labels.data()), 2, dy.data(), 1.0).value();
  EXPECT_NEAR(computed, expected, 1e-5);
  model->Backward(*backend, x.data(), dy.data(), 2, fused);
  const std::vector<float> analytic(store.grads(), store.grads() + store.size());
  const float h = 1e-3f;
  for (int64_t i = 0; i < store.size(); ++i) {
    float& p = store.params()[i];
    const float saved = p;
    p = saved + h;
    const double up = CrossEntropyOfOutput(*model, *backend, x, labels);
    p = saved - h;
    const double down = CrossEntropyOfOutput(*model, *backend, x, labels);
    p = saved;
    const double numeric = (up - down) / (2.0 * static_cast<double>(h));
    EXPECT_NEAR(analytic[static_cast<size_t>(i)], numeric, 1e-3 * (1.0 + std::fabs(numeric))) << i;
  }
}

// from_logits: true over probabilities would take them for logits: refused
// over every softmax head, Conv2D and rank-3 Activation as Dense.
TEST(ConvModelTest, FromLogitsIsRefusedOverAnySoftmaxHead) {
  const struct {
    std::string model;
    int64_t classes;
  } cases[] = {
      {kOnePixelSoftmaxHead, 3},
      {"input_shape: [3, 3, 1] layers { conv2d { filters: 3 kernel_size: [2] activation: SOFTMAX "
       "} } layers { flatten {} }",
       12},
      {"input_shape: [3, 3, 1] layers { conv2d { filters: 3 kernel_size: [2] } } "
       "layers { activation { activation: SOFTMAX } } layers { flatten {} }",
       12},
      {"input_shape: [4] layers { dense { units: 3 activation: SOFTMAX } }", 3},
  };
  for (const auto& c : cases) {
    auto model = CreateModel(c.model, 2);
    ASSERT_NE(model, nullptr);
    auto backend = kernels::CreateCpuBackend();
    auto loss = loss::Loss::Create(*backend, SparseCrossEntropyJob(true, c.classes), HeadOf(*model),
                                   model->output_size(), 2);
    EXPECT_EQ(loss.status().code(), StatusCode::kInvalidArgument) << c.model;
  }
}

// A per-pixel softmax over 2x2 pixels is not one distribution over the 12
// outputs, and the labels are one class id an example: refused, not fused.
TEST(ConvModelTest, PerPixelSoftmaxHeadIsNotASparseCrossEntropyHead) {
  auto model = CreateModel(
      "input_shape: [3, 3, 1] layers { conv2d { filters: 3 kernel_size: [2] activation: SOFTMAX } "
      "} layers { flatten {} }",
      2);
  ASSERT_NE(model, nullptr);
  auto backend = kernels::CreateCpuBackend();
  auto loss = loss::Loss::Create(*backend, SparseCrossEntropyJob(false, 12), HeadOf(*model),
                                 model->output_size(), 2);
  EXPECT_EQ(loss.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(loss.status().message().find("softmax is computed separately at each of its 4 positions"),
            std::string::npos)
      << loss.status();
}

}  // namespace
}  // namespace shardtrain
