// Keras's model.layers order of a Functional model (worker/model/
// keras_layer_order.h: decreasing depth, ties by first reach of a depth-first
// walk from the output) and the Keras export's refusal of a graph listed in
// another order: the inception-style example (two branches, the second listed
// second but deeper), a straight chain (unchanged), a projection-shortcut add
// block, the CNN export tests' every-conv-op model, and the real Keras 3.7 ResNet-8, whose
// config.json Keras wrote in model.layers order (so ours must be the identity on it).
#include "worker/model/keras_layer_order.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "kernels/backend.h"
#include "storage/keras/keras_files.h"
#include "tests/serving/every_conv_op_model.h"
#include "tests/worker/gradient_check_util.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"
#include "worker/model/model.h"

namespace shardtrain::model {
namespace {

using gradient_check::CreateModel;

std::vector<std::string> Names(const Model& model, const std::vector<int>& order) {
  std::vector<std::string> out;
  for (int i : order) out.push_back(model.layers()[static_cast<size_t>(i)].name);
  return out;
}

std::vector<int> Identity(size_t n) {
  std::vector<int> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<int>(i);
  return out;
}

// b1 reads pixels; b2a reads pixels, b2b reads b2a; cat = [b1, b2b].
constexpr char kBranches[] =
    "input_shape: [8, 8, 1] input_name: 'pixels' "
    "layers { name: 'b1' conv2d { filters: 4 kernel_size: [1] } } "
    "layers { name: 'b2a' inputs: ['pixels'] conv2d { filters: 4 kernel_size: [1] } } "
    "layers { name: 'b2b' conv2d { filters: 4 kernel_size: [3] padding: SAME } } "
    "layers { name: 'cat' inputs: ['b1', 'b2b'] concatenate {} } "
    "layers { flatten {} } layers { dense { units: 10 } }";

// The same model listed in Keras's order.
constexpr char kBranchesInKerasOrder[] =
    "input_shape: [8, 8, 1] input_name: 'pixels' "
    "layers { name: 'b2a' conv2d { filters: 4 kernel_size: [1] } } "
    "layers { name: 'b1' inputs: ['pixels'] conv2d { filters: 4 kernel_size: [1] } } "
    "layers { name: 'b2b' inputs: ['b2a'] conv2d { filters: 4 kernel_size: [3] padding: SAME } } "
    "layers { name: 'cat' inputs: ['b1', 'b2b'] concatenate {} } "
    "layers { flatten {} } layers { dense { units: 10 } }";

TEST(KerasLayerOrderTest, TheDeeperBranchComesFirst) {
  auto model = CreateModel(kBranches, 2);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(Names(*model, KerasLayerOrder(*model)),
            (std::vector<std::string>{"b2a", "b1", "b2b", "cat", "flatten", "dense"}));
  const Status status = CheckKerasLayerOrder(*model);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("[b2a, b1, b2b, cat, flatten, dense]"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("[b1, b2a, b2b, cat, flatten, dense]"), std::string::npos)
      << status;
  EXPECT_NE(status.message().find("List the layers in the config in Keras's order"),
            std::string::npos)
      << status;
  // Every Keras file (.keras, .h5, .weights.h5) is made by ToKerasModelFile.
  EXPECT_EQ(ToKerasModelFile(*model, nullptr).status().code(), StatusCode::kFailedPrecondition);
}

TEST(KerasLayerOrderTest, TheSameGraphInKerasOrderExports) {
  auto model = CreateModel(kBranchesInKerasOrder, 2);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(KerasLayerOrder(*model), Identity(6));
  EXPECT_TRUE(CheckKerasLayerOrder(*model).ok());
  auto file = ToKerasModelFile(*model, nullptr);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->layers[0].name, "b2a");
}

TEST(KerasLayerOrderTest, AStraightChainKeepsItsOrder) {
  auto model = CreateModel(
      "input_shape: [6, 6, 1] layers { conv2d { filters: 2 kernel_size: [3] } } "
      "layers { batch_normalization {} } layers { flatten {} } layers { dropout { rate: 0.5 } } "
      "layers { dense { units: 3 } }",
      2);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(KerasLayerOrder(*model), Identity(5));
  EXPECT_TRUE(CheckKerasLayerOrder(*model).ok());
  EXPECT_TRUE(ToKerasModelFile(*model, nullptr).ok());
}

// stem -> conv_a -> bn_a, and a 1x1 projection shortcut of stem, added as
// add([shortcut, bn_a]) (the real ResNet's add_1). Keras: the shortcut (one
// above the add) ties with bn_a and is reached first, after conv_a (two above).
TEST(KerasLayerOrderTest, AProjectionShortcutGoesAfterTheLongerBranch) {
  const std::string head =
      "input_shape: [6, 6, 2] layers { name: 'stem' conv2d { filters: 4 kernel_size: [3] "
      "padding: SAME } } ";
  const std::string tail =
      "layers { name: 'add' inputs: ['shortcut', 'bn_a'] add {} } "
      "layers { activation { activation: RELU } } layers { flatten {} } "
      "layers { dense { units: 3 } }";
  const std::string shortcut =
      "layers { name: 'shortcut' inputs: ['stem'] conv2d { filters: 4 kernel_size: [1] } } ";
  const std::string conv_a =
      "layers { name: 'conv_a' inputs: ['stem'] conv2d { filters: 4 kernel_size: [3] "
      "padding: SAME } } ";
  const std::string bn_a = "layers { name: 'bn_a' inputs: ['conv_a'] batch_normalization {} } ";
  const std::vector<std::string> keras = {"stem", "conv_a",     "shortcut", "bn_a",
                                          "add",  "activation", "flatten",  "dense"};

  auto shortcut_first = CreateModel(head + shortcut + conv_a + bn_a + tail, 2);
  ASSERT_NE(shortcut_first, nullptr);
  EXPECT_EQ(Names(*shortcut_first, KerasLayerOrder(*shortcut_first)), keras);
  EXPECT_EQ(CheckKerasLayerOrder(*shortcut_first).code(), StatusCode::kFailedPrecondition);

  auto branch_last = CreateModel(head + conv_a + bn_a + shortcut + tail, 2);
  ASSERT_NE(branch_last, nullptr);
  EXPECT_EQ(Names(*branch_last, KerasLayerOrder(*branch_last)), keras);
  EXPECT_EQ(CheckKerasLayerOrder(*branch_last).code(), StatusCode::kFailedPrecondition);

  auto in_keras_order = CreateModel(head + conv_a + shortcut + bn_a + tail, 2);
  ASSERT_NE(in_keras_order, nullptr);
  EXPECT_EQ(KerasLayerOrder(*in_keras_order), Identity(8));
  EXPECT_TRUE(ToKerasModelFile(*in_keras_order, nullptr).ok());
}

TEST(KerasLayerOrderTest, GraphFormTiesFollowTheFirstReachOfTheWalkFromTheOutput) {
  // 0 and 1 read the input, 2 = merge(1, 0): both at depth 1, 1 reached first.
  EXPECT_EQ(KerasLayerOrder({{Model::kModelInput}, {Model::kModelInput}, {1, 0}}),
            (std::vector<int>{1, 0, 2}));
  EXPECT_EQ(KerasLayerOrder({{Model::kModelInput}, {Model::kModelInput}, {0, 1}}),
            (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(KerasLayerOrder(std::vector<std::vector<int>>{}).empty());
}

// The graph the CNN export tests train and export (add, two pooling
// branches, concatenate) is listed in Keras's order.
TEST(KerasLayerOrderTest, TheEveryConvOpModelIsInKerasOrder) {
  config::JobConfig job;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kEveryConvOpModel, &job));
  auto model = Model::Create(job.model(), 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(KerasLayerOrder(**model), Identity((*model)->layers().size()));
  EXPECT_TRUE(CheckKerasLayerOrder(**model).ok());
}

// Keras wrote this config's layer list in model.layers order (it has ties at
// two depths: conv2d_5 before batch_normalization_4, conv2d_8 before
// batch_normalization_6), so the model built from it is already in Keras's order.
TEST(KerasLayerOrderTest, TheRealKerasResnetIsInKerasOrder) {
  const std::string path =
      std::string(SHARDTRAIN_SHARED_DIR) + "/testdata/keras/mlcommons_tiny_trainedResnet_k3.7.h5";
  if (!std::ifstream(path).good()) GTEST_SKIP() << path << " absent";
  auto file = storage::keras::ReadKerasFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  auto config = ModelConfigFromKerasJson(file->model_config_json, path);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = Model::Create(*config, 1, kernels::SharedCpuBackend());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(KerasLayerOrder(**model), Identity((*model)->layers().size()));
  EXPECT_TRUE(CheckKerasLayerOrder(**model).ok());
}

}  // namespace
}  // namespace shardtrain::model
