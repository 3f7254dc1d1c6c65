// The real Keras ResNet-8 of MLCommons Tiny (shared/testdata/keras/
// mlcommons_tiny_trainedResnet_k3.7.h5: Conv2D, BatchNormalization,
// Activation, Add with strided 1x1 projection shortcuts, AveragePooling2D,
// Flatten, Dense softmax) imported, exported as a SavedModel and run by our
// serving runtime answers what an independent PyTorch forward pass of the same
// weights computes (tests/worker/resnet_reference.py, float64; its outputs in
// tests/worker/resnet_reference_outputs.txt) within 1e-4. Skipped without the
// shared test data.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "cli/saved_model_of.h"
#include "serving/loaded_model.h"
#include "storage/keras/keras_files.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/storage/temp_files_test_util.h"
#include "tests/worker/resnet_reference.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"

namespace shardtrain {
namespace {

using resnet_reference::kClasses;
using resnet_reference::kRows;
using resnet_reference::ReferenceInput;
using resnet_reference::ReferenceRows;
using resnet_reference::ResNetPath;

TEST(ResNetExportTest, ServedSavedModelMatchesAnIndependentPyTorchForwardPass) {
  if (!std::ifstream(ResNetPath()).good()) GTEST_SKIP() << "absent: " << ResNetPath();
  const std::vector<std::vector<double>> expected = ReferenceRows();
  ASSERT_EQ(expected.size(), static_cast<size_t>(kRows));
  auto file = storage::keras::ReadKerasFile(ResNetPath());
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = model::ModelConfigFromKerasJson(file->model_config_json, "resnet");
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = model::Model::Create(*config, kRows, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto report = model::LoadWeightsByName(*file, model->get());
  ASSERT_TRUE(report.ok()) << report.status();

  auto exported = cli::ExportModelOf(**model, (*model)->input_name());
  ASSERT_TRUE(exported.ok()) << exported.status();
  test_files::TempDir dir;
  auto written = storage::saved_model::ExportSavedModel(*exported, dir.File("base"), 1);
  ASSERT_TRUE(written.ok()) << written.status();
  auto loaded = serving::LoadedModel::Load(*written);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  serving::Tensor input = serving::Tensor::Floats({kRows, 32, 32, 3});
  input.f = ReferenceInput(32 * 32 * 3);
  auto outputs = (*loaded)->Run("serving_default", {{"input_layer", input}});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const serving::Tensor& probabilities = outputs->at("output_0");  // the Dense is softmax
  ASSERT_EQ(probabilities.shape, (std::vector<int64_t>{kRows, kClasses}));
  for (int64_t row = 0; row < kRows; ++row) {
    for (int64_t k = 0; k < kClasses; ++k) {
      EXPECT_NEAR(probabilities.f[static_cast<size_t>(row * kClasses + k)],
                  expected[static_cast<size_t>(row)][static_cast<size_t>(kClasses + k)], 1e-4)
          << "row " << row << " class " << k;
    }
  }
}

}  // namespace
}  // namespace shardtrain
