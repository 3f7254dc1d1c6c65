// Checkpoint names across a resume (Keras ModelCheckpoint semantics): a
// checkpoint.filepath that formats epoch logs, `ckpt-{step}-{loss:.4f}`,
// names each save with the logs of the last epoch end. A run stopped after a
// checkpoint (mid-epoch, or at an epoch end) and resumed as train resumes
// (FindResumeCandidates, ResumeTraining, a Checkpointer given the resumed
// state) names its later checkpoints exactly as the uninterrupted run does,
// not with NaN until its next epoch ends. A filepath that names no log keeps
// nothing in the callback state (the checkpoint bytes of such jobs are as
// before). CPU backend, one rank, an in-process coordinator commits. Each
// test's files live under a folder named with the test and the pid.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "coordinator/coordinator.h"
#include "coordinator/rpc/coordinator_client.h"
#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "tests/worker/trainer_test_util.h"
#include "tests/worker/training_test_callbacks.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/resume.h"
#include "worker/comm/local_communicator.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::checkpoint {
namespace {

namespace fs = std::filesystem;

// 12 -> 16 (ReLU) -> 3 with Adam, batches of 8 for 2 epochs of 25 steps (on
// 200 examples), a checkpoint every 20 steps named by `filepath`, all kept.
config::JobConfig NamesJob(const std::string& run_dir, const std::string& filepath) {
  config::JobConfig job = testing::SmallJob(
      "layers { dense { units: 16 activation: RELU } } layers { dense { units: 3 } }", 2);
  job.mutable_training()->set_run_dir(run_dir);
  job.mutable_checkpoint()->set_filepath(filepath);
  job.mutable_checkpoint()->set_save_freq("20");
  job.mutable_checkpoint()->set_max_to_keep(-1);
  EXPECT_TRUE(ValidateJobConfig(&job).ok());
  return job;
}

// Records each epoch's "loss" log.
class EpochLoss : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    for (const auto& [name, value] : e.logs) {
      if (name == "loss") losses[e.epoch] = value;
    }
    return OkStatus();
  }
  std::map<int64_t, double> losses;
};

// Saves through the Checkpointer and stops training, after global step
// `at_step` (a batch end) or at the end of epoch `at_epoch` (after the
// checkpointer's own epoch end, as a preemption there saves); -1: never.
class SaveAndStop : public callbacks::Callback {
 public:
  SaveAndStop(Checkpointer* checkpointer, Trainer* trainer, int64_t at_step, int64_t at_epoch)
      : checkpointer_(checkpointer), trainer_(trainer), at_step_(at_step), at_epoch_(at_epoch) {}
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    return b.global_step == at_step_ ? SaveAndRequestStop() : OkStatus();
  }
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    return e.epoch == at_epoch_ ? SaveAndRequestStop() : OkStatus();
  }

 private:
  Status SaveAndRequestStop() {
    ASSIGN_OR_RETURN(std::string prefix, checkpointer_->Save());
    (void)prefix;
    trainer_->RequestStop();
    return OkStatus();
  }
  Checkpointer* checkpointer_;
  Trainer* trainer_;
  int64_t at_step_, at_epoch_;
};

// The checkpoint names (prefixes) of folder `dir`.
std::set<std::string> CheckpointNames(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const size_t index = name.rfind(".index");
    if (name.rfind("ckpt-", 0) == 0 && index != std::string::npos && index + 6 == name.size()) {
      names.insert(name.substr(0, index));
    }
  }
  return names;
}

class CheckpointNamesResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = testing::PerTestRunDir("checkpoint_names_resume_test_");
    fs::remove_all(run_dir_);
    job_ = NamesJob(run_dir_, "ckpt-{step}-{loss:.4f}");
    cpu_ = kernels::CreateCpuBackend();
  }
  void TearDown() override { fs::remove_all(run_dir_); }

  // What one training session left.
  struct Session {
    EpochLoss logs;
    std::optional<Resumed> resumed;
    bool stopped = false;
    callbacks::CallbackState state;  // the trainer's at the end
  };

  // One session of `job_` as train runs one: with `resume` it restores the
  // newest checkpoint of RUN_DIR/checkpoints, then Fit with the Checkpointer
  // (an in-process coordinator commits) and SaveAndStop(at_step, at_epoch).
  Session RunSession(bool resume, int64_t at_step, int64_t at_epoch) {
    Session session;
    auto trainer = Trainer::Create(job_, cpu_.get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    coordinator::CoordinatorOptions options;
    options.http_port = -1;
    options.global_batch = 8;
    options.shard_sizes = {8};
    auto coordinator = coordinator::Coordinator::Start(options);
    EXPECT_TRUE(coordinator.ok()) << coordinator.status();
    if (!trainer.ok() || !coordinator.ok()) return session;
    auto client =
        coordinator::CoordinatorClient::Connect("127.0.0.1", (*coordinator)->port(), "", 0, 1, 5);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return session;
    fs::create_directories(CheckpointDir(job_));
    comm::LocalCommunicator comm;
    if (resume) {
      session.resumed = testing::ResumeNewest(job_, **trainer, comm, /*warnings=*/nullptr);
      if (!session.resumed) return session;
    }
    Checkpointer checkpointer(job_, trainer->get(), &comm, client->get(),
                              storage::PosixFileSystem(),
                              session.resumed ? &session.resumed->state : nullptr);
    SaveAndStop stop(&checkpointer, trainer->get(), at_step, at_epoch);
    testing::OneRankPlanner planner(&train_, job_.training().batch_size(), /*shuffle=*/true);
    const Status fit = (*trainer)->Fit(&planner, nullptr, {&session.logs, &checkpointer, &stop});
    EXPECT_TRUE(fit.ok()) << fit;
    EXPECT_TRUE((*client)->Done().ok());
    session.stopped = (*trainer)->stopped();
    session.state = (*trainer)->callback_state();
    return session;
  }

  // The uninterrupted run's checkpoint names (its folder moved aside).
  std::set<std::string> Uninterrupted(Session* session) {
    *session = RunSession(false, -1, -1);
    const std::string moved = (fs::path(run_dir_) / "uninterrupted").string();
    fs::rename(CheckpointDir(job_), moved);
    return CheckpointNames(moved);
  }

  static std::string LossName(int64_t step, double loss) {
    char text[64];
    std::snprintf(text, sizeof(text), "ckpt-%lld-%.4f", static_cast<long long>(step), loss);
    return text;
  }

  std::string run_dir_;
  config::JobConfig job_;
  std::unique_ptr<kernels::KernelBackend> cpu_;
  const data::Dataset train_ = testing::SeparableDataset(200, 1);
};

// The scenario: stopped after a checkpoint at step 30 (mid epoch 2),
// the resumed run names its step-40 checkpoint with epoch 1's loss, not NaN.
TEST_F(CheckpointNamesResumeTest, ResumedMidEpochNamesCheckpointsAsTheUninterruptedRun) {
  Session whole;
  const std::set<std::string> expected = Uninterrupted(&whole);
  ASSERT_EQ(whole.logs.losses.size(), 2u);
  EXPECT_EQ(expected, (std::set<std::string>{"ckpt-20-nan", LossName(40, whole.logs.losses[1]),
                                             LossName(50, whole.logs.losses[2])}));

  const Session first = RunSession(false, /*at_step=*/30, -1);
  const Session second = RunSession(/*resume=*/true, -1, -1);
  EXPECT_TRUE(first.stopped);
  EXPECT_FALSE(second.stopped);
  ASSERT_TRUE(second.resumed.has_value());
  EXPECT_EQ(second.resumed->state.progress.global_step, 30);
  EXPECT_EQ(second.resumed->state.progress.epoch, 1);
  std::set<std::string> names = CheckpointNames(CheckpointDir(job_));
  EXPECT_EQ(names.erase(LossName(30, whole.logs.losses[1])), 1u);  // the stop's checkpoint
  EXPECT_EQ(names, expected);
}

// Stopped after a checkpoint at the end of epoch 1: the resumed run names
// its step-40 checkpoint with that epoch's loss before its own epoch ends.
TEST_F(CheckpointNamesResumeTest, ResumedAtAnEpochEndNamesCheckpointsAsTheUninterruptedRun) {
  Session whole;
  const std::set<std::string> expected = Uninterrupted(&whole);
  ASSERT_EQ(whole.logs.losses.size(), 2u);

  const Session first = RunSession(false, -1, /*at_epoch=*/1);
  const Session second = RunSession(/*resume=*/true, -1, -1);
  EXPECT_TRUE(first.stopped);
  ASSERT_TRUE(second.resumed.has_value());
  EXPECT_EQ(second.resumed->state.progress.global_step, 25);
  EXPECT_EQ(second.resumed->state.progress.position, 0);
  std::set<std::string> names = CheckpointNames(CheckpointDir(job_));
  EXPECT_EQ(names.erase(LossName(25, whole.logs.losses[1])), 1u);
  EXPECT_EQ(names, expected);
}

// The filepath's logs are kept in the callback state only when it names one.
TEST_F(CheckpointNamesResumeTest, CallbackStateHoldsOnlyTheLogsTheFilepathNames) {
  const Session named = RunSession(false, -1, -1);
  EXPECT_EQ(named.state.scalars.size(), 1u);
  EXPECT_TRUE(named.state.Scalar("checkpointer/last_logs/loss").has_value());

  fs::remove_all(run_dir_);
  job_ = NamesJob(run_dir_, "ckpt-{step}");
  const Session plain = RunSession(false, -1, -1);
  EXPECT_TRUE(plain.state.empty());
  EXPECT_EQ(CheckpointNames(CheckpointDir(job_)),
            (std::set<std::string>{"ckpt-20", "ckpt-40", "ckpt-50"}));
}

// A resume whose filepath names no log drops the logs an earlier run's
// filepath named, so its checkpoints do not carry them on to a later run.
TEST_F(CheckpointNamesResumeTest, AResumeDropsTheLogsItsFilepathNoLongerNames) {
  const Session first = RunSession(false, -1, /*at_epoch=*/1);
  EXPECT_TRUE(first.state.Scalar("checkpointer/last_logs/loss").has_value());
  job_ = NamesJob(run_dir_, "ckpt-{step}");
  const Session second = RunSession(/*resume=*/true, -1, -1);
  ASSERT_TRUE(second.resumed.has_value());
  EXPECT_TRUE(second.resumed->state.callbacks.Scalar("checkpointer/last_logs/loss").has_value());
  EXPECT_TRUE(second.state.empty());
}

}  // namespace
}  // namespace shardtrain::checkpoint
