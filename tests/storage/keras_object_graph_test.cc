// The object graph and keys of the reference model with Adam must be what
// tf.keras writes (shared/spec/tf-formats.md §3.2.1, variant A table).
#include "storage/checkpoint/keras_object_graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"

namespace shardtrain::storage {
namespace {

KerasCheckpointLayout ReferenceLayout() {
  std::vector<KerasLayerSpec> layers = {
      {"dense", {"kernel", "bias"}}, {"dropout", {}}, {"dense_1", {"kernel", "bias"}}};
  KerasOptimizerSpec adam{"Adam", {"iter", "beta_1", "beta_2", "decay", "learning_rate"}, {"m", "v"}};
  return BuildKerasCheckpointLayout(layers, &adam);
}

std::vector<std::pair<std::string, int>> Children(const KerasCheckpointLayout& layout, int node) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& child : layout.graph.nodes(node).children()) {
    out.emplace_back(child.local_name(), child.node_id());
  }
  return out;
}

TEST(KerasObjectGraphTest, MatchesTheSpecTableForDenseDropoutDenseWithAdam) {
  const KerasCheckpointLayout layout = ReferenceLayout();
  ASSERT_EQ(layout.graph.nodes_size(), 22);
  using C = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(Children(layout, 0), (C{{"layer_with_weights-0", 1}, {"layer-0", 1}, {"layer-1", 2},
                                    {"layer_with_weights-1", 3}, {"layer-2", 3}, {"optimizer", 4}}));
  EXPECT_EQ(Children(layout, 1), (C{{"kernel", 5}, {"bias", 6}}));
  EXPECT_EQ(Children(layout, 2), C{});
  EXPECT_EQ(Children(layout, 3), (C{{"kernel", 7}, {"bias", 8}}));
  EXPECT_EQ(Children(layout, 4), (C{{"iter", 9}, {"beta_1", 10}, {"beta_2", 11}, {"decay", 12},
                                    {"learning_rate", 13}}));
  // Slots: (5,m,14) (6,m,15) (7,m,16) (8,m,17) (5,v,18) ... (8,v,21).
  const auto& slots = layout.graph.nodes(4).slot_variables();
  ASSERT_EQ(slots.size(), 8);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(slots[i].original_variable_node_id(), 5 + i % 4);
    EXPECT_EQ(slots[i].slot_name(), i < 4 ? "m" : "v");
    EXPECT_EQ(slots[i].slot_variable_node_id(), 14 + i);
  }
  auto attribute = [&](int node) { return layout.graph.nodes(node).attributes(0); };
  EXPECT_EQ(attribute(5).checkpoint_key(), "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(5).full_name(), "dense/kernel");
  EXPECT_EQ(attribute(5).name(), "VARIABLE_VALUE");
  EXPECT_EQ(attribute(8).checkpoint_key(), "layer_with_weights-1/bias/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(9).checkpoint_key(), "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(9).full_name(), "Adam/iter");
  EXPECT_EQ(attribute(14).checkpoint_key(),
            "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(14).full_name(), "Adam/dense/kernel/m");
  EXPECT_EQ(attribute(21).checkpoint_key(),
            "layer_with_weights-1/bias/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_FALSE(layout.graph.nodes(2).has_checkpoint_values().value());  // dropout
  EXPECT_TRUE(layout.graph.nodes(0).has_checkpoint_values().value());
}

TEST(KerasObjectGraphTest, SortedKeysAreInTheSpecOrder) {
  std::vector<std::string> keys = {kObjectGraphKey};
  for (const auto& v : ReferenceLayout().variables) keys.push_back(v.key);
  ASSERT_EQ(keys.size(), 18u);  // 4 weights, 8 slots, 5 optimizer variables + the object graph
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys[0], "_CHECKPOINTABLE_OBJECT_GRAPH");
  EXPECT_EQ(keys[1], "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(keys[2], "layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/m/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(keys[13], "optimizer/beta_1/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(keys[16], "optimizer/iter/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(keys[17], "optimizer/learning_rate/.ATTRIBUTES/VARIABLE_VALUE");
}

TEST(KerasObjectGraphTest, WeightsOnlyHasNoOptimizerAndEscapesNames) {
  std::vector<KerasLayerSpec> layers = {{"my.layer", {"a/b"}}};
  KerasCheckpointLayout layout = BuildKerasCheckpointLayout(layers, nullptr);
  ASSERT_EQ(layout.graph.nodes_size(), 3);
  ASSERT_EQ(layout.variables.size(), 1u);
  EXPECT_EQ(layout.variables[0].key, "layer_with_weights-0/a.Sb/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(EscapeObjectPathComponent("x.y/z"), "x..y.Sz");
}

// A functional model (its InputLayer is layer-0, spec §3.2) with Conv2D and
// BatchNormalization: the moving statistics are saved weights of the layer
// but, being non-trainable, have no optimizer slots.
TEST(KerasObjectGraphTest, FunctionalConvBatchNormHasSlotsForTrainableWeightsOnly) {
  std::vector<KerasLayerSpec> layers = {
      {"input_layer", {}},
      {"conv2d", {"kernel", "bias"}},
      {"batch_normalization",
       {"gamma", "beta", "moving_mean", "moving_variance"},
       {true, true, false, false}}};
  KerasOptimizerSpec adam{"Adam", {"iter", "beta_1", "beta_2", "decay", "learning_rate"}, {"m", "v"}};
  const KerasCheckpointLayout layout = BuildKerasCheckpointLayout(layers, &adam);
  using C = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(Children(layout, 0), (C{{"layer-0", 1}, {"layer_with_weights-0", 2}, {"layer-1", 2},
                                    {"layer_with_weights-1", 3}, {"layer-2", 3}, {"optimizer", 4}}));
  EXPECT_EQ(Children(layout, 1), C{});
  EXPECT_EQ(Children(layout, 3), (C{{"gamma", 7}, {"beta", 8}, {"moving_mean", 9},
                                    {"moving_variance", 10}}));
  // Nodes 11-15 are the optimizer's variables; slots (m then v) of nodes 5-8 only.
  const auto& slots = layout.graph.nodes(4).slot_variables();
  ASSERT_EQ(slots.size(), 8);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(slots[i].original_variable_node_id(), 5 + i % 4);
    EXPECT_EQ(slots[i].slot_name(), i < 4 ? "m" : "v");
    EXPECT_EQ(slots[i].slot_variable_node_id(), 16 + i);
  }
  EXPECT_EQ(layout.graph.nodes_size(), 24);
  auto attribute = [&](int node) { return layout.graph.nodes(node).attributes(0); };
  EXPECT_EQ(attribute(9).checkpoint_key(),
            "layer_with_weights-1/moving_mean/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(9).full_name(), "batch_normalization/moving_mean");
  EXPECT_EQ(attribute(23).checkpoint_key(),
            "layer_with_weights-1/beta/.OPTIMIZER_SLOT/optimizer/v/.ATTRIBUTES/VARIABLE_VALUE");
  EXPECT_EQ(attribute(23).full_name(), "Adam/batch_normalization/beta/v");
  size_t slot_variables = 0;
  for (const KerasCheckpointVariable& v : layout.variables) {
    if (v.kind != KerasCheckpointVariable::Kind::kSlot) continue;
    ++slot_variables;
    EXPECT_LT(v.weight, 2) << v.key;  // gamma/beta (or kernel/bias), never a moving statistic
  }
  EXPECT_EQ(slot_variables, 8u);
  EXPECT_FALSE(layout.graph.nodes(1).has_checkpoint_values().value());  // the InputLayer
}

// A real tf.keras file: TF 2.3's SavedModel of Sequential [Dense test_in,
// Dense, Dense test_out] with Adam (testdata README). Its variables bundle
// must hold exactly our keys (besides the SavedModel-only keras_api/ ones),
// and its object graph must give our variables the same full names.
TEST(KerasObjectGraphTest, MatchesARealKerasCheckpoint) {
  const std::string prefix = std::string(SHARDTRAIN_SHARED_DIR) +
                             "/testdata/tf/rust_keras_single_input_saved_model/variables/variables";
  if (!PosixFileSystem()->FileExists(prefix + ".index")) {
    GTEST_SKIP() << "real Keras checkpoint not found at " << prefix << " (shared/testdata absent)";
  }
  auto reader = BundleReader::Open(PosixFileSystem(), prefix);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::set<std::string> real;
  for (const std::string& key : (*reader)->Keys()) {
    if (key.rfind("keras_api/", 0) != 0) real.insert(key);
  }
  std::vector<KerasLayerSpec> layers = {
      {"test_in", {"kernel", "bias"}}, {"dense", {"kernel", "bias"}}, {"test_out", {"kernel", "bias"}}};
  KerasOptimizerSpec adam{"Adam", {"iter", "beta_1", "beta_2", "decay", "learning_rate"}, {"m", "v"}};
  const KerasCheckpointLayout ours = BuildKerasCheckpointLayout(layers, &adam);
  std::set<std::string> ours_keys = {kObjectGraphKey};
  for (const auto& v : ours.variables) ours_keys.insert(v.key);
  EXPECT_EQ(real, ours_keys);

  auto graph_bytes = (*reader)->ReadStrings(kObjectGraphKey);
  ASSERT_TRUE(graph_bytes.ok()) << graph_bytes.status();
  tf::TrackableObjectGraph graph;
  ASSERT_TRUE(graph.ParseFromString((*graph_bytes)[0]));
  std::map<std::string, std::string> real_full_names;
  for (const auto& node : graph.nodes()) {
    for (const auto& attribute : node.attributes()) {
      real_full_names[attribute.checkpoint_key()] = attribute.full_name();
    }
  }
  for (const auto& v : ours.variables) {
    EXPECT_EQ(real_full_names[v.key], v.full_name) << v.key;
  }
}

}  // namespace
}  // namespace shardtrain::storage
