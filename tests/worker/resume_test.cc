// Resuming from a checkpoint directory on one rank (the 2- and 3-rank paths:
// tests/cli/checkpoint_resume_test.sh, tests/mpi/restore_mpi_test.cc): which
// candidates --restore, --no-resume and the state file give, sweeping what an
// unfinished save left; falling back past a damaged checkpoint with a warning;
// every candidate damaged is DataLoss, never a fresh start; a damaged
// --restore does not fall back; a changed config is refused, naming each
// changed field with its old and new value (a map's entries by key), unless
// allowed; a checkpoint at the end of the configured epochs is complete.
#include "worker/checkpoint/resume.h"

#include <gtest/gtest.h>

#include <sstream>

#include "kernels/backend.h"
#include "storage/checkpoint/state_file.h"
#include "storage/io/file_system.h"
#include "tests/worker/checkpoint_test_util.h"
#include "worker/comm/local_communicator.h"
#include "worker/job_config.h"

namespace shardtrain::checkpoint {
namespace {

constexpr char kDir[] = "/run/checkpoints";

Status WriteText(storage::FileSystem* fs, const std::string& path, const std::string& text) {
  ASSIGN_OR_RETURN(auto file, fs->NewWritableFile(path));
  RETURN_IF_ERROR(file->Append(text));
  return file->Close();
}

config::JobConfig TinyJob(uint64_t seed = 5) {
  auto config = ParseJobConfig(R"pb(
                                 model {
                                   input_shape: [ 12 ]
                                   layers { dense { units: 4 activation: RELU } }
                                   layers { dense { units: 3 } }
                                 }
                                 optimizer { adam {} }
                                 loss { sparse_categorical_crossentropy { from_logits: true } }
                                 data { dir: "unused" num_classes: 3 }
                                 training { batch_size: 8 epochs: 3 run_dir: "/run" }
                               )pb",
                               "tiny");
  EXPECT_TRUE(config.ok()) << config.status();
  config->mutable_training()->set_seed(seed);
  EXPECT_TRUE(ValidateJobConfig(&*config).ok());
  return *config;
}

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs_.CreateDirs(kDir).ok());
    auto trainer = Trainer::Create(job_, backend_.get());
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    trainer_ = *std::move(trainer);
  }

  // Writes checkpoint `name` of the trainer at `step` and lists `names` in
  // the state file, the last one newest.
  void Save(const std::string& name, int64_t step, const config::JobConfig& config) {
    SavedState state;
    state.progress = TrainingProgress{0, 8 * step, step, 0, 0, 0};
    state.config_hash = TrajectoryConfigHash(config);
    auto tensors = GatherCheckpointTensors(*trainer_, config, state);
    ASSERT_TRUE(tensors.ok()) << tensors.status();
    testing::WriteOneShardBundle(&fs_, storage::JoinPath(kDir, name), *tensors);
    if (HasFatalFailure()) return;
    state_.set_model_checkpoint_path(name);
    state_.add_all_model_checkpoint_paths(name);
    ASSERT_TRUE(storage::WriteCheckpointState(&fs_, kDir, state_).ok());
  }

  // Cuts `name`'s data file short (a damaged checkpoint).
  void Damage(const std::string& name) {
    const std::string data = storage::JoinPath(kDir, name + ".data-00000-of-00001");
    ASSERT_TRUE(fs_.DeleteFile(data).ok());
    ASSERT_TRUE(WriteText(&fs_, data, "short").ok());
  }

  StatusOr<ResumeCandidates> Candidates(const ResumeOptions& options) {
    return FindResumeCandidates(&fs_, kDir, options);
  }

  StatusOr<std::optional<Resumed>> Resume(bool allow_config_change = false) {
    auto candidates = Candidates(ResumeOptions{});
    if (!candidates.ok()) return candidates.status();
    return ResumeTraining(&fs_, *candidates, job_, allow_config_change, *trainer_, comm_,
                          warnings_);
  }

  storage::MemoryFileSystem fs_;
  std::unique_ptr<kernels::KernelBackend> backend_ = kernels::CreateCpuBackend();
  config::JobConfig job_ = TinyJob();
  std::unique_ptr<Trainer> trainer_;
  comm::LocalCommunicator comm_;
  tf::CheckpointState state_;
  std::ostringstream warnings_;
};

TEST_F(ResumeTest, NoStateFileOrNoResumeIsAFreshStart) {
  auto fresh = Candidates(ResumeOptions{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_TRUE(fresh->prefixes.empty());
  Save("ckpt-1", 1, job_);
  ResumeOptions no_resume;
  no_resume.no_resume = true;
  auto skipped = Candidates(no_resume);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_TRUE(skipped->prefixes.empty());
}

TEST_F(ResumeTest, StateFileGivesNewestFirstWithFallbackAndSweepsUnfinishedSaves) {
  Save("ckpt-1", 1, job_);
  Save("ckpt-2", 2, job_);
  const std::string temp = storage::JoinPath(kDir, "ckpt-3.data-00000-of-00001.tempstate7");
  ASSERT_TRUE(WriteText(&fs_, temp, "partial").ok());
  auto candidates = Candidates(ResumeOptions{});
  ASSERT_TRUE(candidates.ok()) << candidates.status();
  EXPECT_EQ(candidates->prefixes,
            (std::vector<std::string>{"/run/checkpoints/ckpt-2", "/run/checkpoints/ckpt-1"}));
  EXPECT_TRUE(candidates->fall_back);
  EXPECT_FALSE(fs_.FileExists(temp));
}

TEST_F(ResumeTest, RestoreNamesOneCandidateWithoutFallbackAndMustExist) {
  Save("ckpt-1", 1, job_);
  ResumeOptions restore;
  restore.restore = "/run/checkpoints/ckpt-1";
  auto one = Candidates(restore);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->prefixes, std::vector<std::string>{"/run/checkpoints/ckpt-1"});
  EXPECT_FALSE(one->fall_back);
  restore.restore = "/run/checkpoints/ckpt-9";
  EXPECT_EQ(Candidates(restore).status().code(), StatusCode::kNotFound);
}

TEST_F(ResumeTest, ResumesTheNewestIntactCheckpoint) {
  Save("ckpt-1", 1, job_);
  Save("ckpt-2", 2, job_);
  auto resumed = Resume();
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE(resumed->has_value());
  EXPECT_EQ((*resumed)->prefix, "/run/checkpoints/ckpt-2");
  EXPECT_EQ(trainer_->progress().global_step, 2);
  EXPECT_EQ(warnings_.str(), "");
}

TEST_F(ResumeTest, FallsBackPastADamagedCheckpointWithAWarning) {
  Save("ckpt-1", 1, job_);
  Save("ckpt-2", 2, job_);
  Damage("ckpt-2");
  auto resumed = Resume();
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE(resumed->has_value());
  EXPECT_EQ((*resumed)->prefix, "/run/checkpoints/ckpt-1");
  EXPECT_EQ(trainer_->progress().global_step, 1);
  EXPECT_NE(warnings_.str().find("warning: skipping damaged checkpoint /run/checkpoints/ckpt-2"),
            std::string::npos)
      << warnings_.str();
  EXPECT_NE(warnings_.str().find("warning: falling back to /run/checkpoints/ckpt-1"),
            std::string::npos)
      << warnings_.str();
}

TEST_F(ResumeTest, EveryCandidateDamagedIsDataLossListingThem) {
  Save("ckpt-1", 1, job_);
  Save("ckpt-2", 2, job_);
  Damage("ckpt-1");
  Damage("ckpt-2");
  auto resumed = Resume();
  EXPECT_EQ(resumed.status().code(), StatusCode::kDataLoss);
  const std::string message(resumed.status().message());
  EXPECT_NE(message.find("no intact checkpoint in /run/checkpoints"), std::string::npos) << message;
  EXPECT_NE(message.find("ckpt-1: "), std::string::npos) << message;
  EXPECT_NE(message.find("ckpt-2: "), std::string::npos) << message;
  EXPECT_NE(message.find("--no-resume starts afresh"), std::string::npos) << message;
}

TEST_F(ResumeTest, ADamagedRestoreDoesNotFallBack) {
  Save("ckpt-1", 1, job_);
  Save("ckpt-2", 2, job_);
  Damage("ckpt-2");
  ResumeOptions restore;
  restore.restore = "/run/checkpoints/ckpt-2";
  auto candidates = Candidates(restore);
  ASSERT_TRUE(candidates.ok()) << candidates.status();
  auto resumed = RestoreNewestIntact(&fs_, *candidates, kDir, *trainer_, comm_, warnings_);
  EXPECT_EQ(resumed.status().code(), StatusCode::kDataLoss) << resumed.status();
  EXPECT_EQ(resumed.status().message().rfind("--restore /run/checkpoints/ckpt-2: ", 0), 0u)
      << resumed.status();
}

TEST_F(ResumeTest, AChangedConfigIsRefusedUnlessAllowed) {
  Save("ckpt-1", 1, TinyJob(/*seed=*/6));
  auto refused = Resume();
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("(training.seed: 6 -> 5)"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("--allow-config-change"), std::string::npos)
      << refused.status();
  auto allowed = Resume(/*allow_config_change=*/true);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_TRUE(allowed->has_value());
  EXPECT_NE(warnings_.str().find("changed job config (training.seed: 6 -> 5)"), std::string::npos)
      << warnings_.str();
}

// The refusal names exactly the fields that differ, not every field that could.
TEST_F(ResumeTest, AChangedBatchSizeIsNamedWithItsOldAndNewValue) {
  config::JobConfig saved = TinyJob();
  saved.mutable_training()->set_batch_size(32);
  Save("ckpt-1", 1, saved);
  job_.mutable_training()->set_batch_size(64);
  auto refused = Resume();
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(
                "was written with a different job config (training.batch_size: 32 -> 64). "),
            std::string::npos)
      << refused.status();
}

TEST(TrajectoryConfigChangesTest, ListsEachChangedTrajectoryFieldWithOldAndNewValues) {
  const config::JobConfig saved = TinyJob();
  config::JobConfig current = saved;
  current.mutable_training()->set_epochs(9);          // not trajectory: a resume may change it
  current.mutable_training()->set_run_dir("/other");  // nor this
  EXPECT_TRUE(TrajectoryConfigChanges(saved, current).empty());

  current.mutable_training()->set_batch_size(16);
  current.mutable_model()->mutable_layers(0)->mutable_dense()->set_units(5);
  current.mutable_data()->set_train_examples(100);
  EXPECT_EQ(
      TrajectoryConfigChanges(saved, current),
      (std::vector<std::string>{"model.layers[0].dense.units: 4 -> 5",
                                "data.train_examples: 0 -> 100", "training.batch_size: 8 -> 16"}));
}

TEST(TrajectoryConfigChangesTest, AFieldSetOnOneSideOnlyShowsNotSet) {
  const config::JobConfig saved = TinyJob();
  config::JobConfig current = saved;
  current.mutable_model()->add_layers()->mutable_dense()->set_units(2);
  current.mutable_optimizer()->mutable_sgd();
  const std::vector<std::string> changes = TrajectoryConfigChanges(saved, current);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0], "model.layers[2]: (not set) -> { dense { units: 2 } }");
  // (the validated Adam's values are printed before the arrow)
  EXPECT_EQ(changes[1].rfind("optimizer.adam: {", 0), 0u) << changes[1];
  EXPECT_EQ(changes[1].find(" -> (not set)"), changes[1].size() - 13) << changes[1];
  EXPECT_EQ(changes[2], "optimizer.sgd: (not set) -> { }");
}

// Issue 24, point 5: a refusal showed "optimizer.learning_rate: 0 -> 0.01"
// for a config that left the rate at its default; 0 stands for the kind's
// default rate, which is what the line now shows.
TEST(TrajectoryConfigChangesTest, ADefaultLearningRateShowsTheRateItStandsFor) {
  config::JobConfig adam = TinyJob(), sgd = TinyJob();
  adam.mutable_optimizer()->mutable_adam();
  sgd.mutable_optimizer()->mutable_sgd();
  config::JobConfig adam_set = adam, sgd_set = sgd;
  adam_set.mutable_optimizer()->set_learning_rate(0.01f);
  sgd_set.mutable_optimizer()->set_learning_rate(0.5f);
  EXPECT_EQ(TrajectoryConfigChanges(adam, adam_set),
            std::vector<std::string>{"optimizer.learning_rate: 0.001 (default) -> 0.01"});
  EXPECT_EQ(TrajectoryConfigChanges(sgd_set, sgd),
            std::vector<std::string>{"optimizer.learning_rate: 0.5 -> 0.01 (default)"});
  config::JobConfig adam_other = adam_set;
  adam_other.mutable_optimizer()->set_learning_rate(0.002f);
  EXPECT_EQ(TrajectoryConfigChanges(adam_other, adam_set),
            std::vector<std::string>{"optimizer.learning_rate: 0.002 -> 0.01"});
}

// A map field's changes name the key, as "field[key]", with no library log
// line (the differencer's order: changed, added, then removed entries).
TEST(TrajectoryConfigChangesTest, AChangedMapEntryIsNamedByItsKey) {
  config::JobConfig saved = TinyJob();
  (*saved.mutable_training()->mutable_class_weight())[0] = 1;
  (*saved.mutable_training()->mutable_class_weight())[1] = 2;
  config::JobConfig current = saved;
  (*current.mutable_training()->mutable_class_weight())[1] = 3;
  EXPECT_EQ(TrajectoryConfigChanges(saved, current),
            std::vector<std::string>{"training.class_weight[1]: 2 -> 3"});
  current.mutable_training()->mutable_class_weight()->erase(0);
  (*current.mutable_training()->mutable_class_weight())[2] = 0.5;
  EXPECT_EQ(TrajectoryConfigChanges(saved, current),
            (std::vector<std::string>{"training.class_weight[1]: 2 -> 3",
                                      "training.class_weight[2]: (not set) -> 0.5",
                                      "training.class_weight[0]: 1 -> (not set)"}));
}

// A checkpoint at the end of the configured epochs (or past them) leaves
// nothing to train; raising the epochs, or a checkpoint inside the last
// epoch, does.
TEST(TrainingCompleteTest, ComparesTheCheckpointsEpochWithTheConfiguredEpochs) {
  config::JobConfig config = TinyJob();  // 3 epochs
  EXPECT_TRUE(TrainingComplete(TrainingProgress{3, 0, 30, 0, 0, 0}, config));
  EXPECT_TRUE(TrainingComplete(TrainingProgress{3, 16, 32, 0, 0, 0}, config));
  EXPECT_FALSE(TrainingComplete(TrainingProgress{2, 16, 22, 0, 0, 0}, config));
  EXPECT_FALSE(TrainingComplete(TrainingProgress{}, config));
  config.mutable_training()->set_epochs(4);
  EXPECT_FALSE(TrainingComplete(TrainingProgress{3, 0, 30, 0, 0, 0}, config));
}

}  // namespace
}  // namespace shardtrain::checkpoint
