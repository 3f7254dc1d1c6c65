// Conv2D and BatchNormalization weights between a Model and Keras files
// (worker/model/keras_weights.h, issue 23): Keras's names and order (kernel,
// bias; gamma, beta, moving_mean, moving_variance), the moving statistics as
// non-trainable weights without Adam state, BatchNormalization weight names
// checked on load, and a round trip through .keras, legacy .h5 and
// .weights.h5 into a fresh model (keras_weights_resnet_test: the real ResNet).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "worker/model/keras_weights.h"
#include "worker/model/model.h"
#include "worker/optimizer/optimizer.h"

namespace shardtrain::model {
namespace {

using storage::keras::KerasModelFile;

// A residual block: conv2d -> batch_normalization, a 1x1 projection conv2d_1
// of the input, add, batch_normalization_1 without beta, then a Dense head.
config::JobConfig ResidualJob() {
  config::JobConfig job;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        model {
          input_shape: [ 6, 6, 2 ]
          layers {
            conv2d {
              filters: 4
              kernel_size: [ 3 ]
              padding: SAME
            }
          }
          layers { batch_normalization {} }
          layers {
            conv2d {
              filters: 4
              kernel_size: [ 1 ]
            }
            inputs: "input"
          }
          layers {
            add {}
            inputs: [ "batch_normalization", "conv2d_1" ]
          }
          layers { batch_normalization { center: false } }
          layers { global_average_pooling2d {} }
          layers { dense { units: 3 } }
        }
        optimizer { adam {} })pb",
      &job));
  return job;
}

// ResidualJob's model as the Keras config a .keras or .h5 file carries (the
// readers take the layer walk, classes and center/scale from it).
constexpr char kResidualConfigJson[] = R"({"class_name": "Functional", "config": {"layers": [
  {"class_name": "InputLayer", "config": {"name": "input"}},
  {"class_name": "Conv2D", "config": {"name": "conv2d"}},
  {"class_name": "BatchNormalization", "config": {"name": "batch_normalization"}},
  {"class_name": "Conv2D", "config": {"name": "conv2d_1"}},
  {"class_name": "Add", "config": {"name": "add"}},
  {"class_name": "BatchNormalization", "config": {"name": "batch_normalization_1",
                                                  "center": false}},
  {"class_name": "GlobalAveragePooling2D", "config": {"name": "global_average_pooling2d"}},
  {"class_name": "Dense", "config": {"name": "dense"}}]}})";

std::unique_ptr<Model> Build(const config::ModelConfig& config, uint64_t seed) {
  auto model = Model::Create(config, 2, kernels::SharedCpuBackend());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return nullptr;
  auto backend = kernels::CreateCpuBackend();
  (*model)->Initialize(*backend, seed);
  return std::move(*model);
}

// Every parameter distinct (moving statistics included), so a misplaced weight shows.
// ToKerasModelFile and GetWeights, failing the test on an error.
KerasModelFile FileOf(const Model& model, const optimizer::Optimizer* opt) {
  auto file = ToKerasModelFile(model, opt);
  EXPECT_TRUE(file.ok()) << file.status();
  return file.ok() ? std::move(*file) : KerasModelFile{};
}
std::vector<std::vector<float>> WeightsOf(const Model& model) {
  auto weights = GetWeights(model);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return weights.ok() ? std::move(*weights) : std::vector<std::vector<float>>{};
}

void FillParameters(Model* model) {
  ParameterStore& params = model->parameters();
  for (int64_t i = 0; i < params.size(); ++i)
    params.params()[i] = 0.25f * static_cast<float>(i + 1);
}

TEST(KerasWeightsCnnTest, LayersCarryKerasNamesAndTrainability) {
  const config::JobConfig job = ResidualJob();
  auto model = Build(job.model(), 1);
  ASSERT_NE(model, nullptr);
  auto opt = optimizer::Optimizer::Create(job.optimizer(), model->parameters());
  ASSERT_TRUE(opt.ok()) << opt.status();
  const KerasModelFile file = FileOf(*model, opt->get());
  ASSERT_EQ(file.layers.size(), 7u);
  EXPECT_EQ(file.layers[0].class_name, "Conv2D");
  EXPECT_EQ(file.layers[0].weights[0].shape, (std::vector<int64_t>{3, 3, 2, 4}));
  EXPECT_EQ(file.layers[3].class_name, "Add");
  EXPECT_EQ(file.layers[5].class_name, "GlobalAveragePooling2D");
  const auto& bn = file.layers[1];
  EXPECT_EQ(bn.class_name, "BatchNormalization");
  ASSERT_EQ(bn.weights.size(), 4u);
  const std::vector<std::string> names = {"gamma", "beta", "moving_mean", "moving_variance"};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(bn.weights[i].name, names[i]);
    EXPECT_EQ(bn.weights[i].trainable, i < 2) << names[i];
    EXPECT_EQ(bn.weights[i].shape, (std::vector<int64_t>{4}));
  }
  // Keras's initial values: gamma ones, beta zeros, moving mean zeros, variance ones.
  EXPECT_EQ(bn.weights[0].values, std::vector<float>(4, 1.0f));
  EXPECT_EQ(bn.weights[2].values, std::vector<float>(4, 0.0f));
  EXPECT_EQ(bn.weights[3].values, std::vector<float>(4, 1.0f));
  const auto& bn_1 = file.layers[4];
  ASSERT_EQ(bn_1.weights.size(), 3u);
  EXPECT_EQ(bn_1.weights[0].name, "gamma");
  EXPECT_EQ(bn_1.weights[1].name, "moving_mean");
  // Adam state: kernel and bias of both convolutions and dense, gamma, beta, gamma.
  ASSERT_TRUE(file.optimizer.present);
  ASSERT_EQ(file.optimizer.m.size(), 9u);
  EXPECT_EQ(file.optimizer.m[2].size(), 4u);  // batch_normalization/gamma
  EXPECT_EQ(file.optimizer.m[6].size(), 4u);  // batch_normalization_1/gamma
}

TEST(KerasWeightsCnnTest, RoundTripsThroughEveryFormIntoAFreshModel) {
  const config::JobConfig job = ResidualJob();
  auto model = Build(job.model(), 1);
  ASSERT_NE(model, nullptr);
  FillParameters(model.get());
  auto opt = optimizer::Optimizer::Create(job.optimizer(), model->parameters());
  ASSERT_TRUE(opt.ok()) << opt.status();
  for (size_t s = 0; s < 2; ++s) {
    for (size_t i = 0; i < (*opt)->slot(s).size(); ++i) (*opt)->slot(s)[i] = s + 0.5f * i;
  }
  KerasModelFile file = FileOf(*model, opt->get());
  const std::string dir = ::testing::TempDir();
  for (const std::string form : {"keras", "h5", "weights.h5"}) {
    SCOPED_TRACE(form);
    const std::string path = dir + "/residual_cnn." + form;
    file.model_config_json = form == "weights.h5" ? "" : kResidualConfigJson;
    Status written = form == "keras" ? storage::keras::WriteKerasArchive(path, file)
                     : form == "h5"  ? storage::keras::WriteLegacyH5(path, file)
                                     : storage::keras::WriteWeightsH5(path, file);
    ASSERT_TRUE(written.ok()) << written;
    auto back = storage::keras::ReadKerasFile(path);
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_TRUE(back->optimizer.present);
    EXPECT_EQ(back->optimizer.m, file.optimizer.m);
    EXPECT_EQ(back->optimizer.v, file.optimizer.v);
    auto fresh = Build(job.model(), 2);
    ASSERT_NE(fresh, nullptr);
    auto report = LoadWeightsByName(*back, fresh.get());
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->loaded.size(), 5u) << report->Describe();
    EXPECT_TRUE(report->not_in_file.empty()) << report->Describe();
    EXPECT_EQ(WeightsOf(*fresh), WeightsOf(*model));
  }
}

TEST(KerasWeightsCnnTest, ABatchNormShapeMismatchNamesTheLayerAndWeight) {
  const config::JobConfig job = ResidualJob();
  auto model = Build(job.model(), 1);
  ASSERT_NE(model, nullptr);
  KerasModelFile file = FileOf(*model, nullptr);
  file.layers[1].weights[2].shape = {5};
  file.layers[1].weights[2].values.assign(5, 0.0f);
  const std::vector<std::vector<float>> before = WeightsOf(*model);
  auto report = LoadWeightsByName(file, model.get());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("layer 'batch_normalization', weight 'moving_mean'"),
            std::string::npos)
      << report.status();
  EXPECT_EQ(WeightsOf(*model), before);  // nothing changed
}

// gamma and beta have one shape: a file of a BatchNormalization with center
// where the model has scale (or the reverse) is refused by name, not loaded
// into the wrong variable. Index names (a bare .weights.h5) load by position.
TEST(KerasWeightsCnnTest, BatchNormWeightNamesMustAgreeWhenTheFileHasThem) {
  const config::JobConfig job = ResidualJob();
  auto model = Build(job.model(), 1);
  ASSERT_NE(model, nullptr);
  KerasModelFile file = FileOf(*model, nullptr);
  ASSERT_EQ(file.layers[4].weights[0].name, "gamma");  // batch_normalization_1: center false
  file.layers[4].weights[0].name = "beta";
  auto report = LoadWeightsByName(file, model.get());
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(report.status().message().find("layer 'batch_normalization_1': the model's weight 0 "
                                           "is 'gamma' but the file's is 'beta'"),
            std::string::npos)
      << report.status();
  file.layers[4].weights[0].name = "0";
  EXPECT_TRUE(LoadWeightsByName(file, model.get()).ok());
}

}  // namespace
}  // namespace shardtrain::model
