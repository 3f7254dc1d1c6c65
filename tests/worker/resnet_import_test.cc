// The real Keras ResNet of MLCommons Tiny (shared/testdata/keras/
// mlcommons_tiny_trainedResnet_k3.7.h5: Keras 3.7, legacy .h5, Functional
// with Conv2D, BatchNormalization, Activation, Add, AveragePooling2D, Flatten,
// Dense) imports through our Keras readers: its config is the graph Keras
// describes, Model::Create accepts it with Keras's parameter counts, its
// weights all load, and Model::Forward in inference mode reproduces an
// independent PyTorch forward pass of the same weights within 1e-4.
// The expected values come from tests/worker/resnet_reference.py (h5py +
// torch float64; the input formula is in that script and in ReferenceInput
// below), stored in tests/worker/resnet_reference_outputs.txt.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "tests/worker/resnet_reference.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"

namespace shardtrain::model {
namespace {

using resnet_reference::kClasses;
using resnet_reference::kRows;
using resnet_reference::ReferenceInput;
using resnet_reference::ReferenceRows;
using resnet_reference::ResNetPath;

bool HaveResNet() { return std::ifstream(ResNetPath()).good(); }

StatusOr<config::ModelConfig> ResNetConfig(const storage::keras::KerasModelFile& file) {
  return ModelConfigFromKerasJson(file.model_config_json, "mlcommons_tiny_trainedResnet_k3.7.h5");
}

TEST(ResNetImportTest, ConfigIsTheGraphKerasDescribes) {
  if (!HaveResNet()) GTEST_SKIP() << "shared/testdata/keras absent: " << ResNetPath();
  auto file = storage::keras::ReadKerasFile(ResNetPath());
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ResNetConfig(*file);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->input_name(), "input_layer");
  EXPECT_EQ(std::vector<int64_t>(config->input_shape().begin(), config->input_shape().end()),
            (std::vector<int64_t>{32, 32, 3}));
  ASSERT_EQ(config->layers_size(), 29);  // 30 Keras layers less the InputLayer
  // First convolution: 3x3 same, L2(1e-4) kernel regularizer, reads the input.
  EXPECT_EQ(config->layers(0).ShortDebugString(),
            "name: \"conv2d\" conv2d { filters: 16 kernel_size: 3 kernel_size: 3 strides: 1 "
            "strides: 1 padding: SAME activation: LINEAR use_bias: true "
            "kernel_regularizer { l2: 0.0001 } }");
  std::map<std::string, std::string> inputs;
  for (const config::LayerConfig& layer : config->layers()) {
    std::string joined;
    for (const std::string& input : layer.inputs()) joined += (joined.empty() ? "" : ",") + input;
    inputs[layer.name()] = joined;
  }
  // The residual wiring (Keras's inbound nodes); a layer reading the one before stays implicit.
  EXPECT_EQ(inputs["add"], "activation,batch_normalization_2");
  EXPECT_EQ(inputs["conv2d_3"], "");
  EXPECT_EQ(inputs["conv2d_5"], "activation_2");
  EXPECT_EQ(inputs["batch_normalization_4"], "conv2d_4");
  EXPECT_EQ(inputs["add_1"], "conv2d_5,batch_normalization_4");
  EXPECT_EQ(inputs["conv2d_8"], "activation_4");
  EXPECT_EQ(inputs["add_2"], "conv2d_8,batch_normalization_6");
  EXPECT_EQ(config->layers(14).ShortDebugString(),  // conv2d_5: the 1x1 strided shortcut
            "name: \"conv2d_5\" conv2d { filters: 32 kernel_size: 1 kernel_size: 1 strides: 2 "
            "strides: 2 padding: SAME activation: LINEAR use_bias: true kernel_regularizer { "
            "l2: 0.0001 } } inputs: \"activation_2\"");
  EXPECT_EQ(config->layers(26).ShortDebugString(),
            "name: \"average_pooling2d\" average_pooling2d { pool_size: 8 pool_size: 8 strides: 8 "
            "strides: 8 padding: VALID }");
  EXPECT_EQ(config->layers(28).dense().activation(), config::SOFTMAX);
  auto model = Model::Create(*config, kRows, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  // Keras's model.summary(): 78,666 parameters, 480 of them non-trainable (moving statistics).
  EXPECT_EQ((*model)->parameters().size(), 78666);
  EXPECT_EQ((*model)->parameters().trainable_size(), 78666 - 480);
  EXPECT_EQ((*model)->input_size(), 32 * 32 * 3);
  EXPECT_EQ((*model)->output_size(), kClasses);
}

// Forward in inference mode; `logits` skips the final softmax.
std::vector<float> Predict(Model& model, const std::vector<float>& x, bool logits) {
  auto backend = kernels::CreateCpuBackend();
  const float* out = model.Forward(*backend, x.data(), kRows, ForwardMode{}, logits);
  return std::vector<float>(out, out + kRows * kClasses);
}

TEST(ResNetImportTest, ForwardMatchesAnIndependentPyTorchForwardPass) {
  if (!HaveResNet()) GTEST_SKIP() << "shared/testdata/keras absent: " << ResNetPath();
  const std::vector<std::vector<double>> expected = ReferenceRows();
  ASSERT_EQ(expected.size(), static_cast<size_t>(kRows)) << "resnet_reference_outputs.txt";
  auto file = storage::keras::ReadKerasFile(ResNetPath());
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ResNetConfig(*file);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = Model::Create(*config, kRows, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto report = LoadWeightsByName(*file, model->get());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->not_in_file.empty()) << report->Describe();
  EXPECT_EQ(report->loaded.size(), 9u + 7u + 1u) << report->Describe();  // conv, BN, dense
  const std::vector<float> x = ReferenceInput((*model)->input_size());
  const std::vector<float> logits = Predict(**model, x, /*logits=*/true);
  const std::vector<float> probabilities = Predict(**model, x, /*logits=*/false);
  for (int64_t row = 0; row < kRows; ++row) {
    ASSERT_EQ(expected[static_cast<size_t>(row)].size(), static_cast<size_t>(2 * kClasses));
    for (int64_t k = 0; k < kClasses; ++k) {
      const size_t at = static_cast<size_t>(row * kClasses + k);
      const std::vector<double>& want = expected[static_cast<size_t>(row)];
      EXPECT_NEAR(logits[at], want[static_cast<size_t>(k)], 1e-4)
          << "row " << row << " logit " << k;
      EXPECT_NEAR(probabilities[at], want[static_cast<size_t>(kClasses + k)], 1e-4)
          << "row " << row << " probability " << k;
    }
  }
}

}  // namespace
}  // namespace shardtrain::model
