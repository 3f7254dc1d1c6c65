// Resume exactness of the epoch's metric sums: a checkpoint taken within an
// epoch holds `_SHARDTRAIN_STATE/epoch_metric_sums`, so a run resumed from it
// ends the epoch with the same logs (loss, accuracy, precision, recall, auc,
// mae) as an uninterrupted run, bit for bit; a job with just "accuracy" has
// no sums and writes no such key (its checkpoints keep their bytes); a
// checkpoint without the key (written before it existed) still restores.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "tests/worker/checkpoint_test_util.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {
namespace {

using shardtrain::testing::OneRankPlanner;
using shardtrain::testing::SeparableDataset;

constexpr char kPrefix[] = "/ckpt/ckpt-mid";
constexpr char kSumsKey[] = "_SHARDTRAIN_STATE/epoch_metric_sums";

// SeparableDataset's class 2 against the rest: labels 0/1.
data::Dataset BinaryDataset(int64_t n, uint64_t seed) {
  data::Dataset d = SeparableDataset(n, seed);
  for (int32_t& label : d.labels) label = label == 2 ? 1 : 0;
  return d;
}

// A 12-8-1 sigmoid classifier trained for one epoch with `metrics` (text).
config::JobConfig BinaryJob(const std::string& metrics) {
  auto config = ParseJobConfig(
      "model { input_shape: [12] layers { dense { units: 8 activation: RELU } } "
      "layers { dense { units: 1 activation: SIGMOID } } }\n"
      "loss { binary_crossentropy { } } optimizer { adam { } } " +
          metrics +
          "\ntraining { batch_size: 8 epochs: 1 seed: 5 }\n"
          "data { dir: \"unused\" num_classes: 2 }",
      "binary job");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config::JobConfig();
  const Status valid = ValidateJobConfig(&*config);
  EXPECT_TRUE(valid.ok()) << valid;
  return *config;
}

constexpr char kAllMetrics[] =
    R"pb(metrics: [ "accuracy", "precision", "recall", "auc", "mae" ])pb";

// Records the epoch-end logs; with `save_after_step` > 0 writes a checkpoint
// of the trainer after that step of the epoch and stops training there.
class SaveAndStop : public callbacks::Callback {
 public:
  SaveAndStop(Trainer* trainer, const config::JobConfig& job, storage::FileSystem* fs,
              int64_t save_after_step)
      : trainer_(trainer), job_(job), fs_(fs), save_after_step_(save_after_step) {}
  Status OnBatchEnd(const callbacks::BatchEnd& batch) override {
    if (batch.step_in_epoch != save_after_step_) return OkStatus();
    SavedState state;
    state.progress = trainer_->progress();
    state.config_hash = TrajectoryConfigHash(job_);
    ASSIGN_OR_RETURN(std::vector<SaveTensor> tensors,
                     GatherCheckpointTensors(*trainer_, job_, state));
    testing::WriteOneShardBundle(fs_, kPrefix, tensors);
    trainer_->RequestStop();
    return OkStatus();
  }
  Status OnEpochEnd(const callbacks::EpochEnd& end) override {
    logs = end.logs;
    return OkStatus();
  }
  metrics::Logs logs;

 private:
  Trainer* trainer_;
  config::JobConfig job_;
  storage::FileSystem* fs_;
  int64_t save_after_step_;
};

class MetricsResumeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fs_.CreateDirs("/ckpt").ok()); }

  std::unique_ptr<Trainer> NewTrainer(const config::JobConfig& job) {
    auto trainer = Trainer::Create(job, backend_.get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    return trainer.ok() ? *std::move(trainer) : nullptr;
  }

  // Fits `trainer` on the training set; `save_after_step` as SaveAndStop.
  metrics::Logs Fit(Trainer* trainer, const config::JobConfig& job, int64_t save_after_step) {
    SaveAndStop callback(trainer, job, &fs_, save_after_step);
    OneRankPlanner planner(&train_, 8, /*shuffle=*/true);
    const Status fit = trainer->Fit(&planner, &val_, {&callback});
    EXPECT_TRUE(fit.ok()) << fit;
    return callback.logs;
  }

  // Restores kPrefix into a new trainer and returns it ready to resume.
  std::unique_ptr<Trainer> Resumed(const config::JobConfig& job) {
    std::unique_ptr<Trainer> trainer = NewTrainer(job);
    auto reader = storage::BundleReader::Open(&fs_, kPrefix);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (trainer == nullptr || !reader.ok()) return nullptr;
    auto restored = RestoreCheckpoint(**reader, kPrefix, *trainer);
    EXPECT_TRUE(restored.ok()) << restored.status();
    if (!restored.ok()) return nullptr;
    trainer->ResumeFrom(restored->progress);
    return trainer;
  }

  bool CheckpointHasSums() {
    auto reader = storage::BundleReader::Open(&fs_, kPrefix);
    EXPECT_TRUE(reader.ok()) << reader.status();
    if (!reader.ok()) return false;
    const std::vector<std::string> keys = (*reader)->Keys();
    return std::find(keys.begin(), keys.end(), kSumsKey) != keys.end();
  }

  std::unique_ptr<kernels::KernelBackend> backend_ = kernels::CreateCpuBackend();
  storage::MemoryFileSystem fs_;
  data::Dataset train_ = BinaryDataset(200, 1), val_ = BinaryDataset(60, 2);
};

TEST_F(MetricsResumeTest, AMidEpochResumeEndsTheEpochWithTheUninterruptedMetrics) {
  const config::JobConfig job = BinaryJob(kAllMetrics);
  std::unique_ptr<Trainer> whole = NewTrainer(job);
  ASSERT_NE(whole, nullptr);
  const metrics::Logs expected = Fit(whole.get(), job, /*save_after_step=*/0);
  ASSERT_EQ(expected.size(), 12u);  // loss, 5 metrics, and their val_ forms

  std::unique_ptr<Trainer> first = NewTrainer(job);
  ASSERT_NE(first, nullptr);
  Fit(first.get(), job, /*save_after_step=*/11);
  ASSERT_TRUE(first->stopped());
  EXPECT_TRUE(CheckpointHasSums());
  std::unique_ptr<Trainer> resumed = Resumed(job);
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(Fit(resumed.get(), job, /*save_after_step=*/0), expected);
}

TEST_F(MetricsResumeTest, AJobWithJustAccuracySavesNoSums) {
  const config::JobConfig job = BinaryJob(R"pb(metrics: "accuracy")pb");
  std::unique_ptr<Trainer> first = NewTrainer(job);
  ASSERT_NE(first, nullptr);
  Fit(first.get(), job, /*save_after_step=*/11);
  EXPECT_FALSE(CheckpointHasSums());
}

TEST_F(MetricsResumeTest, ACheckpointWithoutSumsStillResumes) {
  const config::JobConfig job = BinaryJob(kAllMetrics);
  std::unique_ptr<Trainer> first = NewTrainer(job);
  ASSERT_NE(first, nullptr);
  SavedState state;
  state.progress = TrainingProgress{0, 88, 11, 3.5, 60, 88};  // as older checkpoints: no sums
  state.config_hash = TrajectoryConfigHash(job);
  auto tensors = GatherCheckpointTensors(*first, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  testing::WriteOneShardBundle(&fs_, kPrefix, *tensors);
  EXPECT_FALSE(CheckpointHasSums());
  std::unique_ptr<Trainer> resumed = Resumed(job);
  ASSERT_NE(resumed, nullptr);
  EXPECT_TRUE(resumed->progress().epoch_metric_sums.empty());
  EXPECT_EQ(Fit(resumed.get(), job, /*save_after_step=*/0).size(), 12u);
}

}  // namespace
}  // namespace shardtrain::checkpoint
