// The real Keras 3.7 ResNet legacy .h5 (shared/testdata/keras/
// mlcommons_tiny_trainedResnet_k3.7.h5) loads into the model its config
// describes, by layer name (worker/model/keras_weights.h): every Conv2D,
// BatchNormalization (moving statistics included) and Dense layer, with the
// file's values (read with h5py by tests/storage/keras_resnet_values.py).
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"
#include "worker/model/model.h"

namespace shardtrain::model {
namespace {

const float* Variable(const Model& model, const std::string& name) {
  const ParameterStore& params = model.parameters();
  for (const VariableInfo& info : params.variables()) {
    if (info.name == name) return params.params() + info.offset;
  }
  ADD_FAILURE() << "no variable " << name;
  static const float kZeros[64] = {};
  return kZeros;
}

TEST(KerasWeightsResnetTest, TheRealKeras3ResnetLoadsByLayerName) {
  const std::string path =
      std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5";
  if (!std::ifstream(path).good()) GTEST_SKIP() << path << " absent";
  auto file = storage::keras::ReadKerasFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ModelConfigFromKerasJson(file->model_config_json, path);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = Model::Create(*config, 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  auto report = LoadWeightsByName(*file, model->get());
  ASSERT_TRUE(report.ok()) << report.status();
  // 9 Conv2D, 7 BatchNormalization and the Dense layer.
  EXPECT_EQ(report->loaded.size(), 17u) << report->Describe();
  EXPECT_TRUE(report->not_in_file.empty()) << report->Describe();
  EXPECT_TRUE(report->not_in_model.empty()) << report->Describe();
  const float* moving_variance = Variable(**model, "batch_normalization_6/moving_variance");
  EXPECT_EQ(std::vector<float>(moving_variance, moving_variance + 3),
            (std::vector<float>{0.2768401801586151f, 0.2035793960094452f, 0.26521721482276917f}));
  const float* gamma = Variable(**model, "batch_normalization_6/gamma");
  EXPECT_EQ(gamma[0], 3.2561357021331787f);
  const float* kernel = Variable(**model, "conv2d_8/kernel");
  EXPECT_EQ(kernel[31 * 64 + 61], 0.1404649317264557f);  // [0, 0, 31, 61] of (1, 1, 32, 64)
  const float* first = Variable(**model, "conv2d/kernel");
  EXPECT_EQ(first[1], 0.7354015707969666f);  // [0, 0, 0, 1]
}

}  // namespace
}  // namespace shardtrain::model
