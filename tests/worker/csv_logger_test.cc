// Tests for worker/callbacks/csv_logger: Keras CSVLogger-like rows, and resume
// semantics (append, drop epochs that are trained again, never duplicate).
#include "worker/callbacks/csv_logger.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace shardtrain::callbacks {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The logs of a job whose metrics are ["accuracy"] (the reference config).
const std::vector<std::string> kAccuracyLogs = {"loss", "accuracy", "val_loss", "val_accuracy"};

EpochEnd Epoch(int64_t epoch) {
  EpochEnd e;
  e.epoch = epoch;
  e.step = 10 * epoch;
  e.logs = {{"loss", 1.0 / static_cast<double>(epoch)},
            {"accuracy", 0.5},
            {"val_loss", 0.25},
            {"val_accuracy", 0.875}};
  e.examples_per_sec = 1500;
  e.epoch_seconds = 2.5;
  return e;
}

class CsvLoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = fs::temp_directory_path() /
               ("shardtrain_csv_test_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(run_dir_);
  }
  void TearDown() override { fs::remove_all(run_dir_); }

  // A run starting at 1-based `first` and training through `last`.
  void Run(int64_t first, int64_t last) {
    auto logger = CsvLogger::Open(run_dir_.string(), first, kAccuracyLogs);
    ASSERT_TRUE(logger.ok()) << logger.status();
    for (int64_t epoch = first; epoch <= last; ++epoch) {
      ASSERT_TRUE((*logger)->OnEpochEnd(Epoch(epoch)).ok());
    }
  }

  fs::path csv() const { return run_dir_ / "logs" / "training.csv"; }
  fs::path run_dir_;
};

TEST_F(CsvLoggerTest, KerasLikeRowsWithZeroBasedEpochs) {
  Run(1, 2);
  EXPECT_EQ(Read(csv()),
            "epoch,loss,accuracy,val_loss,val_accuracy,step,examples_per_sec,epoch_seconds\n"
            "0,1,0.5,0.25,0.875,10,1500,2.5\n"
            "1,0.5,0.5,0.25,0.875,20,1500,2.5\n");
}

TEST_F(CsvLoggerTest, FloatsRoundTrip) {
  auto logger = CsvLogger::Open(run_dir_.string(), 1, kAccuracyLogs);
  ASSERT_TRUE(logger.ok());
  EpochEnd e = Epoch(1);
  e.logs[0].second = 0.1 + 0.2;  // loss: 0.30000000000000004
  ASSERT_TRUE((*logger)->OnEpochEnd(e).ok());
  std::vector<std::string> lines = Lines(csv());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1].substr(0, 22), "0,0.30000000000000004,");
}

TEST_F(CsvLoggerTest, FreshRunRewritesTheFile) {
  Run(1, 3);
  Run(1, 1);
  EXPECT_EQ(Lines(csv()).size(), 2u);
}

TEST_F(CsvLoggerTest, ResumeAppendsAndNeverDuplicatesEpochs) {
  Run(1, 3);  // epochs 0, 1, 2 (0-based) written
  // The last checkpoint was after epoch 2 (1-based): the run resumes at epoch
  // 3 and trains 1-based epoch 3 (0-based 2) again.
  Run(3, 5);
  std::vector<std::string> lines = Lines(csv());
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], CsvLogger::Header(kAccuracyLogs));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(lines[static_cast<size_t>(i) + 1].substr(0, 2), std::to_string(i) + ",") << i;
  }
  // Resuming later than what the file has keeps all of it.
  Run(7, 7);
  lines = Lines(csv());
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines.back().substr(0, 2), "6,");
}

TEST_F(CsvLoggerTest, ResumeDropsATornLastLine) {
  Run(1, 2);
  {
    std::ofstream out(csv(), std::ios::app);
    out << "2,0.33";  // a crash mid-row
  }
  Run(3, 3);
  std::vector<std::string> lines = Lines(csv());
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "2,0.3333333333333333,0.5,0.25,0.875,30,1500,2.5");
}

TEST_F(CsvLoggerTest, ResumeWithoutAFileStartsOne) {
  Run(4, 4);
  std::vector<std::string> lines = Lines(csv());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], CsvLogger::Header(kAccuracyLogs));
  EXPECT_EQ(lines[1].substr(0, 2), "3,");
}

TEST_F(CsvLoggerTest, ResumeRefusesAFileWithOtherColumns) {
  fs::create_directories(csv().parent_path());
  std::ofstream(csv()) << "epoch,accuracy,loss\n0,0.5,1\n";
  auto logger = CsvLogger::Open(run_dir_.string(), 2, kAccuracyLogs);
  ASSERT_FALSE(logger.ok());
  EXPECT_EQ(logger.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(logger.status().message().find(csv().string()), std::string::npos) << logger.status();
  EXPECT_EQ(Read(csv()), "epoch,accuracy,loss\n0,0.5,1\n");  // untouched
}

// A job with more metrics has a column for each log, in the logs' order; a
// resume keeps its rows, and one with other metrics is refused.
TEST_F(CsvLoggerTest, ColumnsFollowTheJobsLogs) {
  const std::vector<std::string> names = {"loss", "auc", "mae", "val_loss", "val_auc", "val_mae"};
  for (int64_t first : {1, 2}) {
    auto logger = CsvLogger::Open(run_dir_.string(), first, names);
    ASSERT_TRUE(logger.ok()) << logger.status();
    EpochEnd e = Epoch(first);
    e.logs = {{"loss", 0.5}, {"auc", 0.75}, {"mae", 0.25},
              {"val_loss", 0.625}, {"val_auc", 0.875}, {"val_mae", 0.125}};
    ASSERT_TRUE((*logger)->OnEpochEnd(e).ok());
  }
  EXPECT_EQ(Read(csv()),
            "epoch,loss,auc,mae,val_loss,val_auc,val_mae,step,examples_per_sec,epoch_seconds\n"
            "0,0.5,0.75,0.25,0.625,0.875,0.125,10,1500,2.5\n"
            "1,0.5,0.75,0.25,0.625,0.875,0.125,20,1500,2.5\n");
  auto other = CsvLogger::Open(run_dir_.string(), 3, kAccuracyLogs);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(CsvLoggerTest, UnwritableRunDirIsAnError) {
  fs::create_directories(run_dir_);
  std::ofstream(run_dir_ / "logs") << "x";
  auto logger = CsvLogger::Open(run_dir_.string(), 1, kAccuracyLogs);
  ASSERT_FALSE(logger.ok());
  EXPECT_EQ(logger.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(logger.status().message().find("logs"), std::string::npos) << logger.status();
}

}  // namespace
}  // namespace shardtrain::callbacks
