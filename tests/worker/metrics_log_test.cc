// Tests for worker/callbacks/metrics_log: one line per epoch, and resume
// semantics (a resumed run drops the lines of epochs it trains again, so no
// epoch appears twice).
#include "worker/callbacks/metrics_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/worker/training_test_callbacks.h"

namespace shardtrain::callbacks {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Epoch `epoch` of a run with 1875 steps per epoch; `loss` tells the runs apart.
EpochEnd Epoch(int64_t epoch, double loss) {
  EpochEnd e;
  e.epoch = epoch;
  e.step = 1875 * epoch;
  e.logs = {{"loss", loss}, {"accuracy", 0.5}};
  return e;
}

std::string Line(int64_t epoch, const std::string& loss) {
  return "{\"epoch\": " + std::to_string(epoch) + ", \"step\": " + std::to_string(1875 * epoch) +
         ", \"loss\": " + loss +
         ", \"accuracy\": 0.5, \"examples\": 0, \"examples_per_sec\": 0.0, \"wall_seconds\": "
         "0.000}";
}

TrainBegin StartingAt(int64_t first_epoch) {
  TrainBegin begin;
  begin.first_epoch = first_epoch;
  return begin;
}

class MetricsLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = testing::PerTestRunDir("shardtrain_metrics_log_test_");
    fs::remove_all(run_dir_);
  }
  void TearDown() override { fs::remove_all(run_dir_); }

  // A run (fresh or resumed) that starts at `first_epoch` and logs `epochs`.
  void Run(bool append, int64_t first_epoch, const std::vector<int64_t>& epochs, double loss) {
    auto log = MetricsLog::Open(run_dir_.string(), append);
    ASSERT_TRUE(log.ok()) << log.status();
    ASSERT_TRUE((*log)->OnTrainBegin(StartingAt(first_epoch)).ok());
    for (int64_t epoch : epochs) ASSERT_TRUE((*log)->OnEpochEnd(Epoch(epoch, loss)).ok());
  }

  fs::path path() const { return run_dir_ / "logs" / "metrics.jsonl"; }
  fs::path run_dir_;
};

TEST_F(MetricsLogTest, OneLinePerEpoch) {
  Run(/*append=*/false, 1, {1, 2}, 0.25);
  EXPECT_EQ(Lines(path()), (std::vector<std::string>{Line(1, "0.25"), Line(2, "0.25")}));
}

// --save-freq 500 with 1875 steps per epoch: epoch 1's line is written at step
// 1875, the run is killed at step 2000 and resumes from ckpt-1500, inside
// epoch 1: epoch 1 is logged once, by the resumed run.
TEST_F(MetricsLogTest, ResumeFromACheckpointBeforeTheLastLoggedEpochDoesNotRepeatIt) {
  Run(/*append=*/false, 1, {1}, 0.25);
  Run(/*append=*/true, 1, {1, 2}, 0.125);
  EXPECT_EQ(Lines(path()), (std::vector<std::string>{Line(1, "0.125"), Line(2, "0.125")}));
}

// --restore of an older checkpoint (end of epoch 1) after 3 logged epochs.
TEST_F(MetricsLogTest, RestoreOfAnOlderCheckpointKeepsTheEpochsBeforeIt) {
  Run(/*append=*/false, 1, {1, 2, 3}, 0.25);
  Run(/*append=*/true, 2, {2}, 0.125);
  EXPECT_EQ(Lines(path()), (std::vector<std::string>{Line(1, "0.25"), Line(2, "0.125")}));
}

TEST_F(MetricsLogTest, ResumeAtTheNextEpochAppends) {
  Run(/*append=*/false, 1, {1, 2}, 0.25);
  Run(/*append=*/true, 3, {3}, 0.125);
  EXPECT_EQ(Lines(path()),
            (std::vector<std::string>{Line(1, "0.25"), Line(2, "0.25"), Line(3, "0.125")}));
  EXPECT_FALSE(fs::exists(path().string() + ".tmp"));
}

TEST_F(MetricsLogTest, ATornLastLineIsDropped) {
  Run(/*append=*/false, 1, {1}, 0.25);
  {
    std::ofstream out(path(), std::ios::app);
    out << "{\"epoch\": 2, \"step\": 37";  // killed while writing
  }
  Run(/*append=*/true, 2, {2}, 0.125);
  EXPECT_EQ(Lines(path()), (std::vector<std::string>{Line(1, "0.25"), Line(2, "0.125")}));
}

TEST_F(MetricsLogTest, FreshStartTruncates) {
  Run(/*append=*/false, 1, {1, 2}, 0.25);
  Run(/*append=*/false, 1, {1}, 0.125);
  EXPECT_EQ(Lines(path()), (std::vector<std::string>{Line(1, "0.125")}));
}

}  // namespace
}  // namespace shardtrain::callbacks
