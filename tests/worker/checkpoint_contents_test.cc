// What a checkpoint holds and how it is named and split: a gathered
// checkpoint written as a bundle restores parameters, optimizer slots,
// iteration count and progress bit for bit; mismatches name the key; names
// expand Keras-style templates; tensors spread over ranks by size.
#include "worker/checkpoint/checkpoint_contents.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_format.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "storage/tensor_bundle/bundle_writer.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/job_config.h"

namespace shardtrain::checkpoint {
namespace {

config::JobConfig TinyJob(int units = 16) {
  auto config = ParseJobConfig(R"pb(
    model {
      input_shape: [12]
      layers { dense { units: )pb" + std::to_string(units) + R"pb( activation: RELU } }
      layers { dropout { rate: 0.2 } }
      layers { dense { units: 3 } }
    }
    optimizer { adam {} }
    loss { sparse_categorical_crossentropy { from_logits: true } }
    data { dir: "unused" num_classes: 3 }
    training { batch_size: 8 epochs: 3 seed: 5 run_dir: "/tmp/unused" }
  )pb", "tiny");
  EXPECT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

Status WriteBundle(storage::FileSystem* fs, const std::string& prefix,
                   const std::vector<SaveTensor>& tensors) {
  ASSIGN_OR_RETURN(auto writer, storage::BundleWriter::Open(fs, prefix));
  for (const SaveTensor& t : tensors) {
    if (t.dtype == DType::kString) {
      RETURN_IF_ERROR(writer->AddStrings(t.key, t.shape, t.strings));
    } else {
      RETURN_IF_ERROR(writer->Add(t.key, t.dtype, t.shape, t.data, t.bytes));
    }
  }
  return writer->Finish();
}

TEST(CheckpointContentsTest, RestoresEverythingBitForBit) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = TinyJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  model::ParameterStore& params = (*trainer)->model().parameters();
  for (int64_t i = 0; i < params.size(); ++i) params.params()[i] = 0.001f * static_cast<float>(i);
  optimizer::Optimizer& opt = (*trainer)->optimizer();
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    for (size_t i = 0; i < opt.slot(s).size(); ++i) opt.slot(s)[i] = static_cast<float>(s + i);
  }
  opt.set_iterations(123);
  SavedState state;
  state.progress = TrainingProgress{1, 40, 123, 17.25, 30, 40};
  state.best_value = 0.5;
  state.has_best = true;
  state.config_hash = TrajectoryConfigHash(job);
  auto tensors = GatherCheckpointTensors(**trainer, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/ckpt").ok());
  ASSERT_TRUE(WriteBundle(&fs, "/ckpt/ckpt-123", *tensors).ok());

  auto fresh = Trainer::Create(job, backend.get());
  ASSERT_TRUE(fresh.ok());
  auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-123");
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto restored = RestoreCheckpoint(**reader, "/ckpt/ckpt-123", **fresh);
  ASSERT_TRUE(restored.ok()) << restored.status();
  model::ParameterStore& got = (*fresh)->model().parameters();
  EXPECT_EQ(std::memcmp(got.params(), params.params(), params.size() * sizeof(float)), 0);
  for (size_t s = 0; s < opt.slot_names().size(); ++s) {
    EXPECT_EQ((*fresh)->optimizer().slot(s), opt.slot(s));
  }
  EXPECT_EQ((*fresh)->optimizer().iterations(), 123);
  EXPECT_EQ(restored->progress.epoch, 1);
  EXPECT_EQ(restored->progress.position, 40);
  EXPECT_EQ(restored->progress.global_step, 123);
  EXPECT_EQ(restored->progress.epoch_loss_sum, 17.25);
  EXPECT_EQ(restored->progress.epoch_correct, 30);
  EXPECT_EQ(restored->progress.epoch_examples, 40);
  EXPECT_TRUE(restored->has_best);
  EXPECT_EQ(restored->best_value, 0.5);
  EXPECT_EQ(restored->config_hash, TrajectoryConfigHash(job));
  EXPECT_TRUE(restored->progress.data_stages.empty());  // none saved: no tensor

  // A model of another width: the error names the key and both shapes.
  auto wider = Trainer::Create(TinyJob(32), backend.get());
  ASSERT_TRUE(wider.ok());
  Status mismatch = RestoreCheckpoint(**reader, "/ckpt/ckpt-123", **wider).status();
  EXPECT_EQ(mismatch.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(mismatch.message().find("layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE' is "
                                    "float32 [12, 16] but the model has float32 [12, 32]"),
            std::string::npos)
      << mismatch;
}

// The streamed data cursor is saved as int64 [n, 2] only when there is one.
TEST(CheckpointContentsTest, SavesAndRestoresTheDataCursor) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = TinyJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  SavedState state;
  state.progress = TrainingProgress{2, 96, 40, 1.5, 3, 96};
  state.progress.data_stages = {{0, 4}, {2, 3}, {3, 1}};
  state.config_hash = TrajectoryConfigHash(job);
  auto tensors = GatherCheckpointTensors(**trainer, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  const auto cursor = std::find_if(tensors->begin(), tensors->end(), [](const SaveTensor& t) {
    return t.key == "_SHARDTRAIN_STATE/data_stages";
  });
  ASSERT_NE(cursor, tensors->end());
  EXPECT_EQ(cursor->dtype, DType::kInt64);
  EXPECT_EQ(cursor->shape, (std::vector<int64_t>{3, 2}));
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/ckpt").ok());
  ASSERT_TRUE(WriteBundle(&fs, "/ckpt/ckpt-40", *tensors).ok());
  auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-40");
  ASSERT_TRUE(reader.ok()) << reader.status();
  auto restored = RestoreCheckpoint(**reader, "/ckpt/ckpt-40", **trainer);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->progress.data_stages, state.progress.data_stages);
  EXPECT_EQ(restored->progress.position, 96);
}

// A damaged index claiming a huge or negative shape for the data cursor or
// the metric sums is DataLoss, not an allocation failure.
TEST(CheckpointContentsTest, DamagedCursorOrMetricSumShapesAreDataLoss) {
  auto backend = kernels::CreateCpuBackend();
  const config::JobConfig job = TinyJob();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  SavedState state;
  state.progress = TrainingProgress{2, 96, 40, 1.5, 3, 96};
  state.progress.epoch_metric_sums = {1.0, 2.0};
  state.progress.data_stages = {{0, 4}, {2, 3}};
  state.config_hash = TrajectoryConfigHash(job);
  auto tensors = GatherCheckpointTensors(**trainer, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/ckpt").ok());
  const std::string prefix = "/ckpt/ckpt-40";
  ASSERT_TRUE(WriteBundle(&fs, prefix, *tensors).ok());
  std::vector<std::pair<std::string, tf::BundleEntryProto>> entries;
  {
    auto reader = storage::BundleReader::Open(&fs, prefix);
    ASSERT_TRUE(reader.ok()) << reader.status();
    for (const std::string& key : (*reader)->Keys()) {
      entries.emplace_back(key, *(*reader)->Entry(key));
    }
  }
  const struct {
    const char* key;
    int dim;
    int64_t size;
  } damages[] = {
      {"_SHARDTRAIN_STATE/data_stages", 0, int64_t{1} << 40},
      {"_SHARDTRAIN_STATE/data_stages", 0, int64_t{1} << 62},
      {"_SHARDTRAIN_STATE/data_stages", 0, -1},
      {"_SHARDTRAIN_STATE/data_stages", 0, 3},  // more rows than bytes
      {"_SHARDTRAIN_STATE/epoch_metric_sums", 0, int64_t{1} << 61},
      {"_SHARDTRAIN_STATE/epoch_metric_sums", 0, -3},
  };
  for (const auto& damage : damages) {
    SCOPED_TRACE(std::string(damage.key) + " dim " + std::to_string(damage.size));
    auto damaged = entries;
    bool found = false;
    for (auto& [key, entry] : damaged) {
      if (key != damage.key) continue;
      entry.mutable_shape()->mutable_dim(damage.dim)->set_size(damage.size);
      found = true;
    }
    ASSERT_TRUE(found);
    ASSERT_TRUE(storage::WriteBundleIndex(&fs, storage::IndexFilename(prefix), 1, damaged).ok());
    auto reader = storage::BundleReader::Open(&fs, prefix);
    ASSERT_TRUE(reader.ok()) << reader.status();
    auto restored = RestoreCheckpoint(**reader, prefix, **trainer);
    EXPECT_EQ(restored.status().code(), StatusCode::kDataLoss) << restored.status();
  }
}

TEST(CheckpointContentsTest, ConfigHashIgnoresWhatAResumeMayChange) {
  config::JobConfig a = TinyJob(), b = TinyJob();
  b.mutable_training()->set_epochs(10);
  b.mutable_training()->set_run_dir("/elsewhere");
  b.mutable_checkpoint()->set_save_freq("7");
  b.mutable_data()->set_reader_threads(8);
  EXPECT_EQ(TrajectoryConfigHash(a), TrajectoryConfigHash(b));
  b.mutable_optimizer()->set_learning_rate(0.01f);
  EXPECT_NE(TrajectoryConfigHash(a), TrajectoryConfigHash(b));
}

// How the data is read and mixed decides the trajectory.
TEST(CheckpointContentsTest, ConfigHashCoversTheDataPath) {
  const config::JobConfig a = TinyJob();
  config::JobConfig in_memory = a, buffer = a, shards = a;
  in_memory.mutable_data()->set_in_memory(true);
  buffer.mutable_data()->set_shuffle_buffer(100);
  shards.mutable_data()->set_shard_records(64);
  EXPECT_NE(TrajectoryConfigHash(a), TrajectoryConfigHash(in_memory));
  EXPECT_NE(TrajectoryConfigHash(a), TrajectoryConfigHash(buffer));
  EXPECT_NE(TrajectoryConfigHash(a), TrajectoryConfigHash(shards));
}

TEST(CheckpointContentsTest, AssignsLargestFirstToTheLeastLoadedRank) {
  // Sizes 100, 60, 50, 10, 5 on 2 ranks: 100→0, 60→1, 50→1, 10→0, 5→0.
  EXPECT_EQ(AssignTensorsToRanks({10, 100, 5, 60, 50}, 2), (std::vector<int>{0, 0, 0, 1, 1}));
  // Every rank gets one when there are enough tensors, even of size 0.
  std::vector<int> ranks = AssignTensorsToRanks({0, 0, 0, 0}, 4);
  std::sort(ranks.begin(), ranks.end());
  EXPECT_EQ(ranks, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(AssignTensorsToRanks({7, 7, 7}, 1), (std::vector<int>{0, 0, 0}));
}

TEST(CheckpointNameTest, ExpandsKerasStyleTemplates) {
  std::map<std::string, double> metrics = {{"val_loss", 0.4567}, {"accuracy", 0.9}};
  EXPECT_EQ(*FormatCheckpointName("ckpt-{step}", 3, 1875, metrics), "ckpt-1875");
  EXPECT_EQ(*FormatCheckpointName("cp-{epoch:04d}.ckpt", 3, 1875, metrics), "cp-0003.ckpt");
  EXPECT_EQ(*FormatCheckpointName("w-{epoch:02d}-{val_loss:.2f}", 12, 0, metrics), "w-12-0.46");
  EXPECT_EQ(FormatCheckpointName("x-{bogus}", 1, 1, metrics).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatCheckpointName("x-{epoch", 1, 1, metrics).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatCheckpointName("x-{val_loss:3d}", 1, 1, metrics).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatCheckpointName("x-{epoch:%n}", 1, 1, metrics).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace shardtrain::checkpoint
