// GELU from training to serving: a model with both GELU forms, exported as a
// SavedModel (tf.nn.gelu's ops: RealDiv, Erf, Pow, Tanh, Mul, AddV2), loaded
// and run by our serving runtime, answers what the trainer's forward computes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "serving/loaded_model.h"
#include "storage/saved_model/saved_model_writer.h"
#include "worker/job_config.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

TEST(GeluExportTest, ExportedSavedModelServesTheTrainersOutputs) {
  auto job = ParseJobConfig(
      "model { input_shape: [5] layers { dense { units: 4 activation: GELU } } "
      "layers { dense { units: 3 activation: GELU_APPROXIMATE } } layers { dense { units: 2 } } }",
      "test");
  ASSERT_TRUE(job.ok()) << job.status();
  auto created = model::Model::Create(job->model(), 3, kernels::SharedCpuBackend());
  ASSERT_TRUE(created.ok()) << created.status();
  model::Model& model = **created;
  auto backend = kernels::CreateCpuBackend();
  model.Initialize(*backend, 5);
  model::ParameterStore& params = model.parameters();
  for (int64_t i = 0; i < params.size(); ++i)
    params.params()[i] += 0.01f * static_cast<float>(i % 7);

  storage::saved_model::ExportModel exported;
  exported.input_name = "pixels";
  exported.input_size = 5;
  for (const model::Model::Layer& layer : model.layers()) {
    storage::saved_model::ExportLayer dense;
    dense.name = layer.name;
    dense.in = layer.in_features;
    dense.out = layer.out_features;
    const float* kernel = params.param(layer.kernel_variable);
    dense.kernel.assign(kernel, kernel + dense.in * dense.out);
    const float* bias = params.param(layer.bias_variable);
    dense.bias.assign(bias, bias + dense.out);
    dense.activation = std::string(kernels::ActivationName(layer.activation));
    exported.layers.push_back(std::move(dense));
  }
  char dir_template[] = "/tmp/gelu_export_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  auto version_dir = storage::saved_model::ExportSavedModel(exported, dir_template, 1);
  ASSERT_TRUE(version_dir.ok()) << version_dir.status();
  auto served = serving::LoadedModel::Load(*version_dir);
  ASSERT_TRUE(served.ok()) << served.status();

  const std::vector<float> x = {-2.0f, -0.5f, 0.0f, 0.7f, 3.0f,  1.0f, 1.0f, -1.0f,
                                0.2f,  -3.5f, 4.0f, 0.1f, -0.1f, 2.2f, -1.7f};
  serving::Tensor input = serving::Tensor::Floats({3, 5});
  input.f = x;
  auto out = (*served)->Run("serving_default", {{"pixels", input}});
  ASSERT_TRUE(out.ok()) << out.status();
  const serving::Tensor& y = out->at("output_0");
  ASSERT_EQ(y.shape, (std::vector<int64_t>{3, 2}));
  const float* expected = model.Forward(*backend, x.data(), 3, model::ForwardMode{}, false);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(y.f[i], expected[i], 1e-6) << i;
  std::filesystem::remove_all(dir_template);
}

}  // namespace
}  // namespace shardtrain
