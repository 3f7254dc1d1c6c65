// Test helpers shared by the trainer and checkpoint tests (one rank and MPI):
// StepLogRecorder keeps every batch's and epoch's logs and counters as rows of
// doubles that compare bitwise with ==; SaveAtStep saves through a
// Checkpointer after one global step (and may stop training there);
// ResumeNewest restores a one-rank run's newest checkpoint as train
// resumes; HostWeights copies a trainer's weights to the host; FileBytes and
// CheckpointFiles read files whole; PerTestRunDir names a run folder unique
// to the running test and process (it creates nothing). Header-only. Errors
// are test failures (EXPECT_*) or a returned Status, never an abort.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "worker/callbacks/callback.h"
#include "worker/checkpoint/checkpointer.h"
#include "worker/checkpoint/resume.h"
#include "worker/comm/communicator.h"
#include "worker/trainer.h"

namespace shardtrain::testing {

// Every batch's logs by global step, and every epoch's by epoch: the Keras
// logs and the counters a callback sees (NaN learning rates as -1, so that
// rows compare with ==).
class StepLogRecorder : public callbacks::Callback {
 public:
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    std::vector<double>& row = batches[b.global_step];
    row = {static_cast<double>(b.epoch),
           static_cast<double>(b.step_in_epoch),
           static_cast<double>(b.steps_per_epoch),
           static_cast<double>(b.examples),
           b.loss,
           std::isnan(b.learning_rate) ? -1.0 : b.learning_rate};
    for (const auto& [name, value] : b.logs) row.push_back(value);
    return OkStatus();
  }
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    std::vector<double>& row = epochs[e.epoch];
    row = {static_cast<double>(e.step), static_cast<double>(e.steps_in_epoch),
           static_cast<double>(e.examples)};
    for (const auto& [name, value] : e.logs) row.push_back(value);
    return OkStatus();
  }
  std::map<int64_t, std::vector<double>> batches;
  std::map<int64_t, std::vector<double>> epochs;
};

// After global step `at`: saves a checkpoint through the Checkpointer (on
// every rank, as its own saves and a preemption's do), then with `stop` ends
// training there.
class SaveAtStep : public callbacks::Callback {
 public:
  SaveAtStep(checkpoint::Checkpointer* checkpointer, Trainer* trainer, int64_t at, bool stop)
      : checkpointer_(checkpointer), trainer_(trainer), at_(at), stop_(stop) {}
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    if (b.global_step != at_) return OkStatus();
    ASSIGN_OR_RETURN(std::string prefix, checkpointer_->Save());
    (void)prefix;
    if (stop_) trainer_->RequestStop();
    return OkStatus();
  }

 private:
  checkpoint::Checkpointer* checkpointer_;
  Trainer* trainer_;
  int64_t at_;
  bool stop_;
};

// Restores the newest checkpoint of CheckpointDir(`job`) onto `trainer` as
// train resumes one rank (FindResumeCandidates, then ResumeTraining without
// config changes), the warnings it printed in `*warnings` (when given). A
// failure, or nothing to resume, is a test failure and nullopt.
inline std::optional<checkpoint::Resumed> ResumeNewest(const config::JobConfig& job,
                                                       Trainer& trainer, comm::Communicator& comm,
                                                       std::string* warnings) {
  auto candidates = checkpoint::FindResumeCandidates(
      storage::PosixFileSystem(), checkpoint::CheckpointDir(job), checkpoint::ResumeOptions{});
  EXPECT_TRUE(candidates.ok()) << candidates.status();
  if (!candidates.ok()) return std::nullopt;
  std::ostringstream printed;
  auto resumed = checkpoint::ResumeTraining(storage::PosixFileSystem(), *candidates, job,
                                            /*allow_config_change=*/false, trainer, comm, printed);
  EXPECT_TRUE(resumed.ok() && resumed->has_value()) << resumed.status();
  if (warnings != nullptr) *warnings = printed.str();
  if (!resumed.ok() || !resumed->has_value()) return std::nullopt;
  return **resumed;
}

// `trainer`'s weights, copied to the host (a test failure if the copy fails).
inline std::vector<float> HostWeights(Trainer& trainer) {
  const model::ParameterStore& params = trainer.model().parameters();
  std::vector<float> host(static_cast<size_t>(params.size()));
  EXPECT_TRUE(params.CopyParamsToHost(host.data()).ok());
  return host;
}

// The bytes of file `path` (empty, and a test failure, if it cannot be read).
inline std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The ckpt-* files of folder `dir` (name -> bytes).
inline std::map<std::string, std::string> CheckpointFiles(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0) files[name] = FileBytes(entry.path().string());
  }
  return files;
}

// TMPDIR/`prefix`<test name>_<pid>: a run folder of the running test's own
// (ctest runs the cases as concurrent processes). Creates nothing.
inline std::string PerTestRunDir(const std::string& prefix) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  return (std::filesystem::temp_directory_path() / (prefix + test + "_" + std::to_string(getpid())))
      .string();
}

}  // namespace shardtrain::testing
