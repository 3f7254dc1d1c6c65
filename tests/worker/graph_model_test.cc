// Functional graphs (LayerConfig.inputs, ModelConfig.input_name): the graph
// rules are InvalidArgument naming the layer; a chain spelled with explicit
// inputs is the implicit chain bit for bit; a layer read by two layers gets the
// sum of their gradients; the memory estimate covers the new layers' buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "tests/worker/gradient_check_util.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

using gradient_check::ParseModel;
using model::ForwardMode;
using model::Model;

TEST(GraphModelTest, GraphErrorsAreInvalidArgumentNamingTheLayer) {
  struct Case {
    const char* model;
    const char* expected;
  };
  const Case cases[] = {
      {"input_shape: [4] layers { dense { units: 2 } } layers { inputs: ['nope'] dense { units: "
       "1 } }",
       "model.layers[1] ('dense_1'): inputs names 'nope', which is neither a layer"},
      {"input_shape: [4] layers { inputs: ['later'] dense { units: 2 } } "
       "layers { name: 'later' dense { units: 1 } }",
       "model.layers[0] ('dense'): inputs names 'later', which is not listed before it"},
      {"input_shape: [4] layers { name: 'self' inputs: ['self'] dense { units: 2 } }",
       "('self'): inputs names 'self', which is not listed before it"},
      {"input_shape: [4] layers { name: 'unused' dense { units: 2 } } "
       "layers { inputs: ['input'] dense { units: 1 } }",
       "model.layers[0] ('unused'): no later layer takes its output"},
      {"input_shape: [4] layers { name: 'a' dense { units: 2 } } "
       "layers { name: 'b' inputs: ['input'] dense { units: 3 } } "
       "layers { inputs: ['a', 'b'] add {} }",
       "model.layers[2] ('add'): Add needs inputs of one shape, but input 1 has shape [3] and "
       "input 0 [2]"},
      {"input_shape: [4] layers { dense { units: 2 } } layers { add {} }",
       "('add'): add needs two or more inputs, got 1"},
      {"input_shape: [4] layers { name: 'a' dense { units: 2 } } "
       "layers { inputs: ['a', 'a'] dense { units: 2 } }",
       "('dense'): dense takes exactly one input, got 2"},
      {"input_shape: [4, 4, 1] layers { conv2d { filters: 2 kernel_size: [3] } } "
       "layers { dense { units: 2 } }",
       "model.layers[1] ('dense'): Dense needs a flat input (got shape [2, 2, 2])"},
      {"input_shape: [16] layers { conv2d { filters: 2 kernel_size: [3] } }",
       "('conv2d'): Conv2D needs an input of shape (height, width, channels), got [16]"},
      {"input_shape: [2, 2, 1] layers { conv2d { filters: 2 kernel_size: [3] } } "
       "layers { flatten {} } layers { dense { units: 1 } }",
       "('conv2d'): the 3x3 conv2d window does not fit the 2x2 input with padding valid"},
      {"input_shape: [4, 4, 1] layers { conv2d { filters: 0 kernel_size: [3] } }",
       "('conv2d'): conv2d.filters must be positive"},
      {"input_shape: [4, 4, 1] layers { max_pooling2d { strides: [1, 0] } }",
       "('max_pooling2d'): max_pooling2d.strides must be one or two positive sizes"},
      {"input_shape: [6] layers { reshape { target_shape: [4, -1] } }",
       "('reshape'): reshape.target_shape [4, -1] does not hold the 6 values"},
      {"input_shape: [2, 3] layers { name: 'b' reshape { target_shape: [3, 2] } } "
       "layers { inputs: ['input', 'b'] concatenate {} }",
       "('concatenate'): Concatenate needs inputs that agree on all but the last axis"},
      {"input_shape: [2, 3] layers { inputs: ['input', 'input'] concatenate { axis: 1 } }",
       "('concatenate'): concatenate.axis 1 is not supported"},
      {"input_shape: [4, 4, 3] layers { conv2d { filters: 2 kernel_size: [1] } }",
       "model: the output (layer 'conv2d', shape [4, 4, 2]) is not flat"},
      {"input_shape: [4] layers { batch_normalization { epsilon: 0 } }",
       "('batch_normalization'): batch_normalization.epsilon must be > 0"},
  };
  for (const Case& c : cases) {
    auto model = Model::Create(ParseModel(c.model), 2, kernels::SharedCpuBackend());
    ASSERT_FALSE(model.ok()) << c.model;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument) << model.status();
    EXPECT_NE(model.status().message().find(c.expected), std::string::npos)
        << model.status().message() << "\nexpected: " << c.expected;
  }
}

TEST(GraphModelTest, InputNameIsConfigurable) {
  auto model = Model::Create(
      ParseModel("input_name: 'pixels' input_shape: [4] layers { dense { units: 2 } } "
                 "layers { inputs: ['pixels'] dense { units: 2 } } "
                 "layers { inputs: ['dense', 'dense_1'] add {} }"),
      2, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_name(), "pixels");
  EXPECT_EQ((*model)->layers()[1].inputs, (std::vector<int>{Model::kModelInput}));
}

// The tutorial MLP with every input named gives the implicit chain's bits.
TEST(GraphModelTest, ExplicitChainIsTheImplicitChainBitForBit) {
  const std::string implicit =
      "input_shape: [6, 2] layers { flatten {} } layers { dense { units: 8 activation: RELU } } "
      "layers { dropout { rate: 0.3 } } layers { dropout { rate: 0.2 } } "
      "layers { dense { units: 3 activation: SOFTMAX } }";
  const std::string named =
      "input_shape: [6, 2] layers { inputs: ['input'] flatten {} } "
      "layers { inputs: ['flatten'] dense { units: 8 activation: RELU } } "
      "layers { inputs: ['dense'] dropout { rate: 0.3 } } "
      "layers { inputs: ['dropout'] dropout { rate: 0.2 } } "
      "layers { inputs: ['dropout_1'] dense { units: 3 activation: SOFTMAX } }";
  auto backend = kernels::CreateCpuBackend();
  std::vector<std::vector<float>> grads, outputs;
  for (const std::string& text : {implicit, named}) {
    auto model = Model::Create(ParseModel(text), 4, kernels::SharedCpuBackend());
    ASSERT_TRUE(model.ok()) << model.status();
    (*model)->Initialize(*backend, 3);
    std::vector<float> x(4 * 12);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(static_cast<float>(i));
    const float* y =
        (*model)->Forward(*backend, x.data(), 4, ForwardMode{true, 5, 2, 8}, /*skip=*/true);
    outputs.emplace_back(y, y + 4 * 3);
    std::vector<float> dy(4 * 3, 0.125f);
    (*model)->Backward(*backend, x.data(), dy.data(), 4, true);
    const model::ParameterStore& params = (*model)->parameters();
    grads.emplace_back(params.grads(), params.grads() + params.size());
    // The second dropout works in place over the first's buffer in both.
    EXPECT_TRUE((*model)->layers()[3].output.empty());
  }
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  EXPECT_EQ(std::memcmp(outputs[0].data(), outputs[1].data(), outputs[0].size() * 4), 0);
  ASSERT_EQ(grads[0].size(), grads[1].size());
  EXPECT_EQ(std::memcmp(grads[0].data(), grads[1].data(), grads[0].size() * 4), 0);
}

// y = Add(a, b) with a = dense(x) read twice (by b = dense_1(a) and by the
// Add): dL/da = dy + dense_1's input gradient. With identity kernels and
// zero biases y = 2 a, so every a-gradient of dense is doubled.
TEST(GraphModelTest, ALayerReadByTwoGetsTheSumOfTheirGradients) {
  auto model = Model::Create(ParseModel("input_shape: [2] layers { name: 'a' dense { units: 2 } } "
                                        "layers { name: 'b' dense { units: 2 } } "
                                        "layers { inputs: ['a', 'b'] add {} }"),
                             1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  model::ParameterStore& params = (*model)->parameters();
  const float identity[4] = {1, 0, 0, 1};
  std::copy(identity, identity + 4, params.param(0));
  std::copy(identity, identity + 4, params.param(2));
  auto backend = kernels::CreateCpuBackend();
  const std::vector<float> x = {3.0f, -1.0f};
  const float* y = (*model)->Forward(*backend, x.data(), 1, ForwardMode{true, 0, 0, 0}, false);
  EXPECT_EQ(y[0], 6.0f);
  EXPECT_EQ(y[1], -2.0f);
  std::vector<float> dy = {0.5f, 2.0f};
  (*model)->Backward(*backend, x.data(), dy.data(), 1, false);
  // a/kernel gradient = x^T (2 dy); a/bias = 2 dy; b/kernel = a^T dy = x^T dy.
  const std::vector<float> a_kernel = {3.0f, 12.0f, -1.0f, -4.0f};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(params.grad(0)[i], a_kernel[static_cast<size_t>(i)]);
  EXPECT_EQ(params.grad(1)[0], 1.0f);
  EXPECT_EQ(params.grad(1)[1], 4.0f);
  EXPECT_EQ(params.grad(2)[1], 6.0f);  // a[0] * dy[1]
}

TEST(GraphModelTest, MemoryEstimateCoversConvolutionBuffers) {
  // The input is 330 MB at 20,000 rows, conv2d's output 64x64x1024 floats an
  // example: 320 GiB, more than the machines this runs on.
  auto model = Model::Create(
      ParseModel("input_shape: [64, 64, 1] layers { conv2d { filters: 1024 kernel_size: [1] } } "
                 "layers { global_average_pooling2d {} } layers { dense { units: 1 } }"),
      20000, kernels::SharedCpuBackend());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(model.status().message().find("model.layers[0] ('conv2d')"), std::string::npos)
      << model.status();
}

TEST(GraphModelTest, HugeKernelsAndFiltersAreResourceExhaustedNotWrapped) {
  // 2^32 x 2^32 kernels and 2^61 filters wrap to 0 elements in int64.
  for (const std::string conv : {"conv2d { filters: 1 kernel_size: [4294967296] padding: SAME }",
                                 "conv2d { filters: 2305843009213693952 kernel_size: [1] }"}) {
    auto model = Model::Create(ParseModel("input_shape: [28, 28, 8] layers { " + conv +
                                          " } layers { flatten {} } layers { dense { units: 1 } }"),
                               1, kernels::SharedCpuBackend());
    ASSERT_FALSE(model.ok()) << conv;
    EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted) << model.status();
  }
}

TEST(GraphModelTest, MemoryEstimateCoversTheIm2colScratch) {
  // One example's 31x31x3 patches over a 4066x4066 output: about 190 GB.
  auto model = Model::Create(
      ParseModel("input_shape: [4096, 4096, 3] layers { conv2d { filters: 1 kernel_size: [31] } } "
                 "layers { global_average_pooling2d {} } layers { dense { units: 1 } }"),
      1, kernels::SharedCpuBackend());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(model.status().message().find("im2col"), std::string::npos) << model.status();
}

TEST(GraphModelTest, APerPixelSoftmaxIsNotTheFusedLossSoftmax) {
  // Softmax over the channels of each pixel, then flattened: a fused loss
  // must not skip it (it would apply one softmax over all 8 columns).
  auto dense = Model::Create(
      ParseModel("input_shape: [2, 2, 2] layers { conv2d { filters: 2 kernel_size: [1] } } "
                 "layers { activation { activation: SOFTMAX } } layers { flatten {} }"),
      1, kernels::SharedCpuBackend());
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_EQ((*dense)->final_activation(), kernels::Activation::kSoftmax);
  EXPECT_EQ((*dense)->final_activation_positions(), 4);  // one softmax per pixel
  auto cpu = kernels::CreateCpuBackend();
  (*dense)->Initialize(*cpu, 7);
  const std::vector<float> x = {1, -2, 3, 0.5f, -1, 2, 0, 4};
  const float* y = (*dense)->Forward(*cpu, x.data(), 1, ForwardMode{}, /*skip_final_softmax=*/true);
  for (int pixel = 0; pixel < 4; ++pixel) {  // each pixel's two channels still sum to 1
    EXPECT_NEAR(y[2 * pixel] + y[2 * pixel + 1], 1.0f, 1e-6f) << pixel;
  }
}

TEST(GraphModelTest, MemoryEstimateCoversConcatenateBuffers) {
  // a: 64 floats a row (26 MB at 100,000 rows); its 16,384-fold
  // concatenation 420 GB, past any machine this runs on.
  std::string inputs;
  for (int i = 0; i < 16384; ++i) inputs += "'a',";
  inputs.pop_back();
  auto model = Model::Create(
      ParseModel("input_shape: [4] layers { name: 'a' dense { units: 64 } } layers { inputs: [" +
                 inputs + "] concatenate {} } layers { dense { units: 1 } }"),
      100000, kernels::SharedCpuBackend());
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(model.status().message().find("model.layers[1] ('concatenate')"), std::string::npos)
      << model.status();
}

}  // namespace
}  // namespace shardtrain
