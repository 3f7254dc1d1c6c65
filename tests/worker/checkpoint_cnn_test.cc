// Checkpoints of convolutional models (worker/checkpoint/checkpoint_contents.h,
// issue 23): Conv2D and BatchNormalization weights under tf.keras's keys
// (layer_with_weights-j/kernel, bias, gamma, beta, moving_mean,
// moving_variance), optimizer slots for the trainable variables only (none
// for the moving statistics), a functional model's layer-i numbering starting
// with its InputLayer and a Sequential's without (tf-formats.md §3.2); a
// checkpoint read back into a fresh model restores every parameter, slot and
// the iteration count bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "proto/tf/checkpoint.pb.h"
#include "storage/checkpoint/keras_object_graph.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "tests/worker/checkpoint_test_util.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/job_config.h"

namespace shardtrain::checkpoint {
namespace {

constexpr char kJobRest[] = R"pb(
  optimizer { adam {} }
  loss { sparse_categorical_crossentropy { from_logits: true } }
  data { dir: "unused" num_classes: 3 }
  training { batch_size: 4 epochs: 1 seed: 9 run_dir: "/tmp/unused" }
)pb";

config::JobConfig Job(const std::string& model) {
  auto config = ParseJobConfig("model { " + model + " }" + kJobRest, "cnn");
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

// A residual block: conv2d -> batch_normalization, a 1x1 projection conv2d_1
// of the input, add, batch_normalization_1 without beta, then a Dense head.
config::JobConfig ResidualJob(int filters = 4) {
  const std::string f = std::to_string(filters);
  return Job(R"pb(
    input_shape: [6, 6, 2]
    layers { conv2d { filters: )pb" + f + R"pb( kernel_size: [3] padding: SAME } }
    layers { batch_normalization {} }
    layers { conv2d { filters: )pb" + f + R"pb( kernel_size: [1] } inputs: "input" }
    layers { add {} inputs: ["batch_normalization", "conv2d_1"] }
    layers { batch_normalization { center: false } }
    layers { activation { activation: RELU } }
    layers { global_average_pooling2d {} }
    layers { dense { units: 3 } })pb");
}

// Sequential: conv2d -> batch_normalization without gamma -> flatten -> dense.
config::JobConfig SequentialJob() {
  return Job(R"pb(
    input_shape: [5, 5, 1]
    layers { conv2d { filters: 2 kernel_size: [3] activation: RELU } }
    layers { batch_normalization { scale: false } }
    layers { flatten {} }
    layers { dense { units: 3 } })pb");
}

// Distinct values in every parameter, slot and the iteration count.
void FillState(Trainer& trainer) {
  model::ParameterStore& params = trainer.model().parameters();
  for (int64_t i = 0; i < params.size(); ++i) params.params()[i] = 0.01f * static_cast<float>(i + 1);
  optimizer::Optimizer& opt = trainer.optimizer();
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    for (size_t i = 0; i < opt.slot(s).size(); ++i) {
      opt.slot(s)[i] = static_cast<float>(s * 1000 + i) + 0.5f;
    }
  }
  opt.set_iterations(77);
}

struct Saved {
  std::vector<SaveTensor> tensors;
  std::set<std::string> keys;
  tf::TrackableObjectGraph graph;
};

// Gathers `trainer`'s checkpoint and writes it as /ckpt/ckpt-1 into `fs`.
Saved Save(Trainer& trainer, const config::JobConfig& job, storage::MemoryFileSystem* fs) {
  SavedState state;
  state.config_hash = TrajectoryConfigHash(job);
  auto tensors = GatherCheckpointTensors(trainer, job, state);
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  Saved saved;
  saved.tensors = std::move(*tensors);
  for (const SaveTensor& t : saved.tensors) {
    saved.keys.insert(t.key);
    if (t.key == storage::kObjectGraphKey) saved.graph.ParseFromString(t.strings[0]);
  }
  EXPECT_TRUE(fs->CreateDirs("/ckpt").ok());
  testing::WriteOneShardBundle(fs, "/ckpt/ckpt-1", saved.tensors);
  return saved;
}

std::vector<std::pair<std::string, int>> RootChildren(const tf::TrackableObjectGraph& graph) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& child : graph.nodes(0).children()) {
    out.emplace_back(child.local_name(), child.node_id());
  }
  return out;
}

std::string Key(const std::string& path) { return path + "/.ATTRIBUTES/VARIABLE_VALUE"; }
std::string SlotKey(const std::string& path, const char* slot) {
  return path + "/.OPTIMIZER_SLOT/optimizer/" + slot + "/.ATTRIBUTES/VARIABLE_VALUE";
}

TEST(CheckpointCnnTest, FunctionalModelHasTfKerasKeysAndInputLayerNumbering) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = ResidualJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  storage::MemoryFileSystem fs;
  const Saved saved = Save(**trainer, job, &fs);
  // layer-0 is the InputLayer; weighted layers: conv2d (layer-1), batch_normalization
  // (layer-2), conv2d_1 (layer-3), batch_normalization_1 (layer-5), dense (layer-8).
  using C = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(RootChildren(saved.graph),
            (C{{"layer-0", 1}, {"layer_with_weights-0", 2}, {"layer-1", 2},
               {"layer_with_weights-1", 3}, {"layer-2", 3}, {"layer_with_weights-2", 4},
               {"layer-3", 4}, {"layer-4", 5}, {"layer_with_weights-3", 6}, {"layer-5", 6},
               {"layer-6", 7}, {"layer-7", 8}, {"layer_with_weights-4", 9}, {"layer-8", 9},
               {"optimizer", 10}}));
  for (const char* weight : {"gamma", "beta", "moving_mean", "moving_variance"}) {
    EXPECT_TRUE(saved.keys.count(Key(std::string("layer_with_weights-1/") + weight))) << weight;
  }
  for (const char* slot : {"m", "v"}) {
    EXPECT_TRUE(saved.keys.count(SlotKey("layer_with_weights-1/gamma", slot)));
    EXPECT_TRUE(saved.keys.count(SlotKey("layer_with_weights-1/beta", slot)));
    EXPECT_TRUE(saved.keys.count(SlotKey("layer_with_weights-0/kernel", slot)));
    EXPECT_FALSE(saved.keys.count(SlotKey("layer_with_weights-1/moving_mean", slot)));
    EXPECT_FALSE(saved.keys.count(SlotKey("layer_with_weights-3/moving_variance", slot)));
  }
  EXPECT_TRUE(saved.keys.count(Key("layer_with_weights-3/gamma")));
  EXPECT_FALSE(saved.keys.count(Key("layer_with_weights-3/beta")));  // center: false
  // Slot references: m and v of the 9 trainable variables (kernel and bias of
  // conv2d, conv2d_1 and dense; gamma and beta; gamma of batch_normalization_1),
  // none pointing at a moving statistic.
  const auto& optimizer = saved.graph.nodes(10);
  EXPECT_EQ(optimizer.slot_variables_size(), 2 * 9);
  std::set<int> moving_nodes;
  for (int node = 0; node < saved.graph.nodes_size(); ++node) {
    for (const auto& attribute : saved.graph.nodes(node).attributes()) {
      if (attribute.full_name().find("/moving_") != std::string::npos) moving_nodes.insert(node);
    }
  }
  EXPECT_EQ(moving_nodes.size(), 4u);  // two per BatchNormalization
  for (const auto& reference : optimizer.slot_variables()) {
    EXPECT_EQ(moving_nodes.count(reference.original_variable_node_id()), 0u);
  }
}

TEST(CheckpointCnnTest, SequentialModelNumbersLayersWithoutInputLayer) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = SequentialJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  storage::MemoryFileSystem fs;
  const Saved saved = Save(**trainer, job, &fs);
  using C = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(RootChildren(saved.graph),
            (C{{"layer_with_weights-0", 1}, {"layer-0", 1}, {"layer_with_weights-1", 2},
               {"layer-1", 2}, {"layer-2", 3}, {"layer_with_weights-2", 4}, {"layer-3", 4},
               {"optimizer", 5}}));
  EXPECT_TRUE(saved.keys.count(Key("layer_with_weights-1/beta")));
  EXPECT_FALSE(saved.keys.count(Key("layer_with_weights-1/gamma")));  // scale: false
  EXPECT_TRUE(saved.keys.count(Key("layer_with_weights-1/moving_variance")));
  EXPECT_TRUE(saved.keys.count(SlotKey("layer_with_weights-1/beta", "v")));
  EXPECT_FALSE(saved.keys.count(SlotKey("layer_with_weights-1/moving_mean", "m")));
}

TEST(CheckpointCnnTest, RestoresParametersMovingStatisticsAndSlotsBitForBit) {
  auto backend = kernels::CreateCpuBackend();
  for (const config::JobConfig& job : {ResidualJob(), SequentialJob()}) {
    auto trainer = Trainer::Create(job, backend.get());
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    FillState(**trainer);
    storage::MemoryFileSystem fs;
    Save(**trainer, job, &fs);
    auto fresh = Trainer::Create(job, backend.get());
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-1");
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto restored = RestoreCheckpoint(**reader, "/ckpt/ckpt-1", **fresh);
    ASSERT_TRUE(restored.ok()) << restored.status();
    const model::ParameterStore& want = (*trainer)->model().parameters();
    const model::ParameterStore& got = (*fresh)->model().parameters();
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.params(), want.params(), want.size() * sizeof(float)), 0);
    EXPECT_LT(want.trainable_size(), want.size());  // the moving statistics have no slots
    for (size_t s = 0; s < (*trainer)->optimizer().slot_names().size(); ++s) {
      EXPECT_EQ((*fresh)->optimizer().slot(s), (*trainer)->optimizer().slot(s));
      EXPECT_EQ((*fresh)->optimizer().slot(s).size(), static_cast<size_t>(want.trainable_size()));
    }
    EXPECT_EQ((*fresh)->optimizer().iterations(), 77);
  }
}

TEST(CheckpointCnnTest, AnotherConvWidthIsRefusedNamingTheKey) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = ResidualJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  storage::MemoryFileSystem fs;
  Save(**trainer, job, &fs);
  auto wider = Trainer::Create(ResidualJob(8), backend.get());
  ASSERT_TRUE(wider.ok()) << wider.status();
  auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-1");
  ASSERT_TRUE(reader.ok()) << reader.status();
  Status mismatch = RestoreCheckpoint(**reader, "/ckpt/ckpt-1", **wider).status();
  EXPECT_EQ(mismatch.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.message().find("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE' is "
                                    "float32 [3, 3, 2, 4] but the model has float32 [3, 3, 2, 8]"),
            std::string::npos)
      << mismatch;
}

}  // namespace
}  // namespace shardtrain::checkpoint
