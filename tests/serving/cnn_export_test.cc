// A convolutional, residual model from training to serving: a config with
// Conv2D, BatchNormalization, a residual Add, an Activation, Max/Average
// pooling, Concatenate, GlobalAveragePooling2D, Dropout, Reshape and Flatten,
// initialized from a seed (weights and moving statistics perturbed so that
// batch normalization is not the identity), exported as a SavedModel
// (cli/saved_model_of.h + storage/saved_model), loaded by our serving runtime:
// it predicts what Model::Forward computes in inference mode (1e-5), for
// image-shaped and for flat input rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "cli/saved_model_of.h"
#include "serving/loaded_model.h"
#include "storage/saved_model/saved_model_writer.h"
#include "tests/serving/every_conv_op_model.h"
#include "tests/storage/temp_files_test_util.h"
#include "worker/job_config.h"
#include "worker/model/model.h"

namespace shardtrain {
namespace {

struct Trained {
  std::unique_ptr<model::Model> model;
  std::vector<float> x;         // (kBatch, 64)
  std::vector<float> expected;  // Model::Forward in inference mode
};

constexpr int64_t kBatch = 3;

Trained InitializedModel() {
  auto job = ParseJobConfig(kEveryConvOpModel, "cnn_export_test");
  EXPECT_TRUE(job.ok()) << job.status();
  auto created = model::Model::Create(job->model(), kBatch, kernels::SharedCpuBackend());
  EXPECT_TRUE(created.ok()) << created.status();
  Trained t{std::move(*created), {}, {}};
  auto backend = kernels::CreateCpuBackend();
  t.model->Initialize(*backend, 7);
  model::ParameterStore& params = t.model->parameters();
  for (int64_t i = 0; i < params.size(); ++i) {
    params.params()[i] += 0.05f * static_cast<float>(i % 7) - 0.1f * static_cast<float>(i % 2);
  }
  for (const model::Model::Layer& layer : t.model->layers()) {  // variances stay positive
    if (layer.moving_variance_variable < 0) continue;
    float* variance = params.param(layer.moving_variance_variable);
    const int64_t n = params.variable(layer.moving_variance_variable).shape.num_elements();
    for (int64_t c = 0; c < n; ++c) variance[c] = 0.5f + std::fabs(variance[c]);
  }
  for (int64_t i = 0; i < kBatch * 64; ++i) t.x.push_back(std::sin(0.37f * static_cast<float>(i)));
  const float* y = t.model->Forward(*backend, t.x.data(), kBatch, model::ForwardMode{}, false);
  t.expected.assign(y, y + kBatch * t.model->output_size());
  return t;
}

TEST(CnnExportTest, ServingRuntimePredictsWhatTheModelForwardComputes) {
  Trained t = InitializedModel();
  ASSERT_NE(t.model, nullptr);
  auto exported = cli::ExportModelOf(*t.model, "pixels");
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->layers.size(), 14u);  // the dropout vanishes
  test_files::TempDir dir;
  auto written = storage::saved_model::ExportSavedModel(*exported, dir.File("base"), 1);
  ASSERT_TRUE(written.ok()) << written.status();
  auto loaded = serving::LoadedModel::Load(*written);
  ASSERT_TRUE(loaded.ok()) << loaded.status();

  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{kBatch, 8, 8, 1}, std::vector<int64_t>{kBatch, 64}}) {
    serving::Tensor input = serving::Tensor::Floats(shape);
    input.f = t.x;
    auto outputs = (*loaded)->Run("serving_default", {{"pixels", input}});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    const serving::Tensor& y = outputs->at("output_0");
    EXPECT_EQ(y.shape, (std::vector<int64_t>{kBatch, 3}));
    ASSERT_EQ(y.f.size(), t.expected.size());
    for (size_t k = 0; k < y.f.size(); ++k) {
      EXPECT_NEAR(y.f[k], t.expected[k], 1e-5) << "output " << k << " of input " << shape.size();
    }
  }
}

TEST(CnnExportTest, GraphUsesEveryConvolutionalOp) {
  Trained t = InitializedModel();
  ASSERT_NE(t.model, nullptr);
  auto exported = cli::ExportModelOf(*t.model, "pixels");
  ASSERT_TRUE(exported.ok()) << exported.status();
  auto saved = storage::saved_model::BuildSavedModel(*exported);
  ASSERT_TRUE(saved.ok()) << saved.status();
  std::set<std::string> ops;
  for (const tf::NodeDef& node : saved->meta_graphs(0).graph_def().node()) ops.insert(node.op());
  for (const char* op : {"Conv2D", "BiasAdd", "Relu", "FusedBatchNormV3", "AddV2", "MaxPool",
                         "AvgPool", "ConcatV2", "Mean", "Reshape", "MatMul"}) {
    EXPECT_TRUE(ops.count(op)) << op;
  }
  // The Activation after the Add is its own node; conv2d's relu is the conv's.
  const std::vector<std::string> names = [&] {
    std::vector<std::string> out;
    for (const auto& node : saved->meta_graphs(0).graph_def().node()) out.push_back(node.name());
    return out;
  }();
  EXPECT_NE(std::find(names.begin(), names.end(), "activation/Relu"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "conv2d/Relu"), names.end());
}

}  // namespace
}  // namespace shardtrain
