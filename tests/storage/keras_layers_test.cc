// Weights of Conv2D and BatchNormalization layers in every Keras file form
// (storage/keras/keras_files.h, keras_weight_names.h): the real Keras 3.7
// ResNet legacy .h5 reads with its names, values, the moving statistics as
// non-trainable weights and its Adam state for the trainable ones only
// (expected values read with h5py by keras_resnet_values.py beside this
// file); our writers round-trip such layers through .keras, legacy .h5 and
// .weights.h5 with optimizer slots for the trainable weights only.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "storage/keras/keras_files.h"
#include "storage/keras/keras_weight_names.h"
#include "tests/storage/temp_files_test_util.h"

namespace shardtrain::storage::keras {
namespace {

std::string ResnetPath() {
  return std::string(SHARDTRAIN_SHARED_DIR) +
         "/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5";
}

const KerasLayerWeights* FindLayer(const KerasModelFile& file, const std::string& name) {
  for (const KerasLayerWeights& layer : file.layers) {
    if (layer.name == name) return &layer;
  }
  return nullptr;
}

std::vector<float> Head(const std::vector<float>& values, size_t n) {
  return std::vector<float>(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n));
}

// Expected values from Keras's to_snake_case (Python's re) on the same names.
TEST(KerasSnakeCaseTest, MatchesKerasToSnakeCase) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Dense", "dense"},
      {"BatchNormalization", "batch_normalization"},
      {"Conv2D", "conv2d"},
      {"GlobalAveragePooling2D", "global_average_pooling2d"},
      {"XAbCd", "x_ab_cd"},
      {"aBcDe", "a_bc_de"},
      {"ABc", "a_bc"},
      {"HTTPServer", "http_server"},
      {"my-layer.V2", "mylayer_v2"},
      {"__Foo__Bar", "___foo___bar"},
      {"aBC", "a_bc"},
      {"Conv2DTranspose", "conv2d_transpose"},
      {"LSTMCell", "lstm_cell"},
      {"PReLU", "p_re_lu"},
      {"x", "x"},
      {"", ""},
  };
  for (const auto& [name, expected] : cases) EXPECT_EQ(KerasSnakeCase(name), expected) << name;
  // A long class name from a file (a recursive regex overflowed the stack here).
  EXPECT_EQ(KerasSnakeCase(std::string(200000, 'A')), std::string(200000, 'a'));
}

TEST(KerasWeightNamesTest, NamesAndTrainabilityFollowKeras) {
  auto names = KerasWeightNames("BatchNormalization", 4, {});
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].name, "gamma");
  EXPECT_EQ(names[3].name, "moving_variance");
  EXPECT_TRUE(names[1].trainable);
  EXPECT_FALSE(names[2].trainable);
  KerasLayerOptions no_scale;
  no_scale.scale = false;
  names = KerasWeightNames("BatchNormalization", 3, no_scale);
  EXPECT_EQ(names[0].name, "beta");
  EXPECT_TRUE(names[0].trainable);
  // A count that does not fit the options: index names, moving statistics last.
  names = KerasWeightNames("BatchNormalization", 3, {});
  EXPECT_EQ(names[0].name, "0");
  EXPECT_TRUE(names[0].trainable);
  EXPECT_FALSE(names[1].trainable);
  EXPECT_EQ(KerasWeightNames("Conv2D", 1, {})[0].name, "kernel");
  EXPECT_EQ(KerasWeightNames("Conv2D", 2, {})[1].name, "bias");
  EXPECT_EQ(KerasWeightNames("PReLU", 1, {})[0].name, "0");
  EXPECT_EQ(ClassOfKeras3LayerPath("batch_normalization_12"), "BatchNormalization");
  EXPECT_EQ(ClassOfKeras3LayerPath("conv2d"), "Conv2D");
  EXPECT_EQ(ClassOfKeras3LayerPath("conv2d_transpose"), "");
}

TEST(KerasLayersTest, ReadsTheRealKeras3ResnetLegacyH5) {
  if (!std::ifstream(ResnetPath()).good()) GTEST_SKIP() << ResnetPath() << " absent";
  auto file = ReadKerasFile(ResnetPath());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->keras_version, "3.7.0");
  ASSERT_EQ(file->layers.size(), 30u);
  EXPECT_EQ(file->layers[0].name, "input_layer");

  const KerasLayerWeights* conv = FindLayer(*file, "conv2d");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->class_name, "Conv2D");
  ASSERT_EQ(conv->weights.size(), 2u);
  EXPECT_EQ(conv->weights[0].name, "kernel");
  EXPECT_EQ(conv->weights[0].shape, (std::vector<int64_t>{3, 3, 3, 16}));
  // kernel[0, 0, 0, :4]: the first four floats of the row-major kernel.
  EXPECT_EQ(Head(conv->weights[0].values, 4),
            (std::vector<float>{-0.2378832846879959f, 0.7354015707969666f, -0.4594070613384247f,
                                0.5504096150398254f}));
  const KerasLayerWeights* projection = FindLayer(*file, "conv2d_8");
  ASSERT_NE(projection, nullptr);
  EXPECT_EQ(projection->weights[0].shape, (std::vector<int64_t>{1, 1, 32, 64}));
  EXPECT_EQ(projection->weights[0].values[31 * 64 + 61], 0.1404649317264557f);  // [0,0,31,61]

  const KerasLayerWeights* bn = FindLayer(*file, "batch_normalization_6");
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->class_name, "BatchNormalization");
  ASSERT_EQ(bn->weights.size(), 4u);
  const std::vector<std::string> names = {"gamma", "beta", "moving_mean", "moving_variance"};
  const std::vector<std::vector<float>> heads = {
      {3.2561357021331787f, 3.291133403778076f, 3.192629098892212f},
      {-0.5970166325569153f, -0.08271026611328125f, -0.3432965576648712f},
      {-0.08579622209072113f, 0.12062536180019379f, -0.2998299300670624f},
      {0.2768401801586151f, 0.2035793960094452f, 0.26521721482276917f}};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(bn->weights[i].name, names[i]);
    EXPECT_EQ(bn->weights[i].shape, (std::vector<int64_t>{64}));
    EXPECT_EQ(bn->weights[i].trainable, i < 2) << names[i];
    EXPECT_EQ(Head(bn->weights[i].values, 3), heads[i]) << names[i];
  }
  const KerasLayerWeights* dense = FindLayer(*file, "dense");
  ASSERT_NE(dense, nullptr);
  EXPECT_EQ(dense->weights[1].values[0], 0.052121348679065704f);
  EXPECT_EQ(dense->weights[1].values[9], 0.016315970569849014f);
}

TEST(KerasLayersTest, ResnetAdamStateCoversTheTrainableWeightsOnly) {
  if (!std::ifstream(ResnetPath()).good()) GTEST_SKIP() << ResnetPath() << " absent";
  auto file = ReadKerasFile(ResnetPath());
  ASSERT_TRUE(file.ok()) << file.status();
  const KerasOptimizerState& adam = file->optimizer;
  ASSERT_TRUE(adam.present);
  EXPECT_EQ(adam.iterations, 781500);
  EXPECT_EQ(adam.learning_rate, 6.636851594521431e-06f);
  // 9 Conv2D x (kernel, bias) + 7 BatchNormalization x (gamma, beta) + Dense's 2.
  ASSERT_EQ(adam.m.size(), 34u);
  ASSERT_EQ(adam.v.size(), 34u);
  EXPECT_EQ(adam.m[2].size(), 16u);  // batch_normalization/gamma
  EXPECT_EQ(Head(adam.m[2], 3), (std::vector<float>{-0.0009886003099381924f, -0.008523249998688698f,
                                                    0.0003989841789007187f}));
  EXPECT_EQ(Head(adam.v[33], 3),
            (std::vector<float>{0.0003688125289045274f, 0.00018884484597947448f,
                                0.0005390412989072502f}));
}

KerasWeight Weight(const std::string& name, std::vector<int64_t> shape, float first,
                   bool trainable = true) {
  KerasWeight weight;
  weight.name = name;
  int64_t size = 1;
  for (int64_t d : shape) size *= d;
  weight.shape = std::move(shape);
  for (int64_t i = 0; i < size; ++i) weight.values.push_back(first + 0.5f * static_cast<float>(i));
  weight.trainable = trainable;
  return weight;
}

KerasLayerWeights Layer(const std::string& name, const std::string& class_name,
                        std::vector<KerasWeight> weights) {
  KerasLayerWeights layer;
  layer.name = name;
  layer.class_name = class_name;
  layer.weights = std::move(weights);
  return layer;
}

// Conv2D -> BatchNormalization(center=False) -> Flatten -> Dense, with Adam state.
KerasModelFile SmallCnn() {
  KerasModelFile model;
  model.model_config_json =
      R"({"class_name": "Sequential", "config": {"name": "cnn", "layers": [)"
      R"({"class_name": "InputLayer", "config": {"name": "input_layer"}},)"
      R"({"class_name": "Conv2D", "config": {"name": "conv2d"}},)"
      R"({"class_name": "BatchNormalization", "config": {"name": "batch_normalization",)"
      R"( "center": false}},)"
      R"({"class_name": "Flatten", "config": {"name": "flatten"}},)"
      R"({"class_name": "Dense", "config": {"name": "dense"}}]}})";
  model.layers = {
      Layer("conv2d", "Conv2D", {Weight("kernel", {3, 3, 1, 2}, 1), Weight("bias", {2}, 2)}),
      Layer("batch_normalization", "BatchNormalization",
            {Weight("gamma", {2}, 3), Weight("moving_mean", {2}, 4, false),
             Weight("moving_variance", {2}, 5, false)}),
      Layer("flatten", "Flatten", {}),
      Layer("dense", "Dense", {Weight("kernel", {8, 3}, 6), Weight("bias", {3}, 7)})};
  model.optimizer.present = true;
  model.optimizer.iterations = 12;
  model.optimizer.learning_rate = 0.125f;
  for (const auto& layer : model.layers) {
    for (const auto& weight : layer.weights) {
      if (!weight.trainable) continue;
      model.optimizer.m.push_back(std::vector<float>(weight.values.size(), -weight.values[0]));
      model.optimizer.v.push_back(std::vector<float>(weight.values.size(), weight.values[0] * 2));
    }
  }
  return model;
}

TEST(KerasLayersTest, ConvAndBatchNormRoundTripInEveryForm) {
  test_files::TempDir dir;
  const KerasModelFile original = SmallCnn();
  ASSERT_EQ(original.optimizer.m.size(), 5u);
  for (const std::string form : {"keras", "h5", "weights.h5"}) {
    const std::string path = dir.File("cnn." + form);
    Status written = form == "keras" ? WriteKerasArchive(path, original)
                     : form == "h5"  ? WriteLegacyH5(path, original)
                                     : WriteWeightsH5(path, original);
    ASSERT_TRUE(written.ok()) << form << ": " << written;
    auto back = ReadKerasFile(path);
    ASSERT_TRUE(back.ok()) << form << ": " << back.status();
    for (size_t l = 0; l < original.layers.size(); ++l) {
      const auto& want = original.layers[l].weights;
      // A bare .weights.h5 has no groups for weightless layers.
      const KerasLayerWeights* found = FindLayer(*back, original.layers[l].name);
      if (want.empty() && form == "weights.h5") continue;
      ASSERT_NE(found, nullptr) << form << " " << original.layers[l].name;
      const auto& got = found->weights;
      ASSERT_EQ(got.size(), want.size()) << form << " layer " << l;
      for (size_t w = 0; w < want.size(); ++w) {
        // A bare .weights.h5 does not say which of gamma/beta a 3-weight
        // BatchNormalization kept: its names are indices there.
        if (form != "weights.h5" || l != 1) {
          EXPECT_EQ(got[w].name, want[w].name) << form;
        }
        EXPECT_EQ(got[w].shape, want[w].shape) << form << " " << want[w].name;
        EXPECT_EQ(got[w].values, want[w].values) << form << " " << want[w].name;
        EXPECT_EQ(got[w].trainable, want[w].trainable) << form << " " << want[w].name;
      }
    }
    ASSERT_TRUE(back->optimizer.present) << form;
    EXPECT_EQ(back->optimizer.iterations, 12) << form;
    EXPECT_EQ(back->optimizer.m, original.optimizer.m) << form;
    EXPECT_EQ(back->optimizer.v, original.optimizer.v) << form;
  }
}

TEST(KerasLayersTest, OptimizerSlotsForMovingStatisticsAreRefused) {
  test_files::TempDir dir;
  KerasModelFile model = SmallCnn();
  model.optimizer.m.insert(model.optimizer.m.begin() + 3, {0.0f, 0.0f});
  model.optimizer.v.insert(model.optimizer.v.begin() + 3, {0.0f, 0.0f});
  const std::string path = dir.File("bad.weights.h5");
  Status written = WriteWeightsH5(path, model);
  EXPECT_EQ(written.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(written.message().find(path), std::string::npos) << written;
  EXPECT_FALSE(std::ifstream(path).good());
}

}  // namespace
}  // namespace shardtrain::storage::keras
