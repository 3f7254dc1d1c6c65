// Tests for worker/callbacks/tensorboard: drives the callback as the trainer
// does and reads the event files back with the independent reader of
// tests/storage/events_test_util.h (own CRC, framing and wire decoding);
// EpochLearningRateFromTheTrainer runs a real one-rank Trainer.
#include "worker/callbacks/tensorboard.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tests/storage/events_test_util.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/trainer.h"

namespace shardtrain::callbacks {
namespace {

namespace fs = std::filesystem;
using ::shardtrain::testing::SpecEvent;
using ::shardtrain::testing::SpecReadEventFile;

// tag -> [(step, value)] of a file's scalars, in file order.
std::map<std::string, std::vector<std::pair<int64_t, float>>> Scalars(
    const std::vector<SpecEvent>& events) {
  std::map<std::string, std::vector<std::pair<int64_t, float>>> out;
  for (const SpecEvent& e : events) {
    if (!e.has_summary) continue;
    EXPECT_EQ(e.plugin_name, "scalars") << e.tag;
    EXPECT_TRUE(e.value.has_value()) << e.tag;
    out[e.tag].emplace_back(e.step, e.value.value_or(0));
  }
  return out;
}

std::vector<fs::path> EventFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) {
      files.push_back(entry.path());
    }
  }
  return files;
}

class TensorBoardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = fs::temp_directory_path() /
               ("shardtrain_tensorboard_test_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(run_dir_);
  }
  void TearDown() override { fs::remove_all(run_dir_); }

  // Two epochs of five steps, as the trainer reports them; with `auc`, the job
  // also logs an "auc" metric.
  void Train(TensorBoardLogger* logger, bool with_learning_rate, bool auc = false) {
    ASSERT_TRUE(logger->OnTrainBegin(TrainBegin{}).ok());
    for (int64_t epoch = 1; epoch <= 2; ++epoch) {
      for (int64_t step = 1; step <= 5; ++step) {
        BatchEnd batch;
        batch.epoch = epoch;
        batch.step_in_epoch = step;
        batch.steps_per_epoch = 5;
        batch.global_step = 5 * (epoch - 1) + step;
        batch.loss = 10.0 * static_cast<double>(epoch) + static_cast<double>(step);
        batch.logs = {{"loss", batch.loss}, {"accuracy", 0.5}};
        if (auc) batch.logs.emplace_back("auc", 0.75);
        batch.examples_per_sec = 1000.0 + static_cast<double>(step);
        if (with_learning_rate) batch.learning_rate = 0.001;
        ASSERT_TRUE(logger->OnBatchEnd(batch).ok());
      }
      EpochEnd end;
      end.epoch = epoch;
      end.step = 5 * epoch;
      const double e = static_cast<double>(epoch);
      end.logs = {{"loss", 1.0 / e}, {"accuracy", 0.25 * e}};
      if (auc) end.logs.emplace_back("auc", 0.5 * e);
      end.logs.insert(end.logs.end(), {{"val_loss", 2.0 / e}, {"val_accuracy", 0.125 * e}});
      if (auc) end.logs.emplace_back("val_auc", 0.25 * e);
      if (with_learning_rate) end.learning_rate = 0.001 / e;
      ASSERT_TRUE(logger->OnEpochEnd(end).ok());
    }
  }

  fs::path run_dir_;
};

TEST_F(TensorBoardTest, EpochScalarsInTrainAndValidationPerNStepsInTrain) {
  auto logger = TensorBoardLogger::Open(run_dir_.string(), /*log_every_steps=*/3);
  ASSERT_TRUE(logger.ok()) << logger.status();
  Train(logger->get(), /*with_learning_rate=*/true);
  // Live: everything is readable before the end of training.
  auto train = Scalars(SpecReadEventFile((*logger)->train_path()));
  EXPECT_EQ(train["epoch_loss"].size(), 2u);
  ASSERT_TRUE((*logger)->OnTrainEnd().ok());

  ASSERT_EQ(EventFiles(run_dir_ / "logs" / "train").size(), 1u);
  ASSERT_EQ(EventFiles(run_dir_ / "logs" / "validation").size(), 1u);
  std::vector<SpecEvent> train_events = SpecReadEventFile(EventFiles(run_dir_ / "logs" / "train")[0]);
  ASSERT_FALSE(train_events.empty());
  EXPECT_EQ(train_events[0].file_version, "brain.Event:2");
  train = Scalars(train_events);
  using Points = std::vector<std::pair<int64_t, float>>;
  // Epoch scalars at the 0-based epoch, as Keras logs them.
  EXPECT_EQ(train["epoch_loss"], (Points{{0, 1.0f}, {1, 0.5f}}));
  EXPECT_EQ(train["epoch_accuracy"], (Points{{0, 0.25f}, {1, 0.5f}}));
  // Every 3 global steps (steps 3, 6, 9 of 10): running loss of the epoch so far.
  EXPECT_EQ(train["batch_loss"], (Points{{3, 13.0f}, {6, 21.0f}, {9, 24.0f}}));
  EXPECT_EQ(train["batch_accuracy"], (Points{{3, 0.5f}, {6, 0.5f}, {9, 0.5f}}));
  EXPECT_EQ(train["examples_per_second"], (Points{{3, 1003.0f}, {6, 1001.0f}, {9, 1004.0f}}));
  EXPECT_EQ(train["learning_rate"], (Points{{3, 0.001f}, {6, 0.001f}, {9, 0.001f}}));
  // Keras's _collect_learning_rate: the rate at each epoch's end, with the epoch scalars.
  EXPECT_EQ(train["epoch_learning_rate"], (Points{{0, 0.001f}, {1, 0.0005f}}));

  auto validation =
      Scalars(SpecReadEventFile(EventFiles(run_dir_ / "logs" / "validation")[0]));
  // Keras writes validation values under the same tags in validation/.
  EXPECT_EQ(validation["epoch_loss"], (Points{{0, 2.0f}, {1, 1.0f}}));
  EXPECT_EQ(validation["epoch_accuracy"], (Points{{0, 0.125f}, {1, 0.25f}}));
  EXPECT_EQ(validation.size(), 2u);
}

TEST_F(TensorBoardTest, NoBatchScalarsWithoutLogEveryAndNoUnknownLearningRate) {
  auto logger = TensorBoardLogger::Open(run_dir_.string(), /*log_every_steps=*/0);
  ASSERT_TRUE(logger.ok()) << logger.status();
  Train(logger->get(), /*with_learning_rate=*/false);
  ASSERT_TRUE((*logger)->OnTrainEnd().ok());
  auto train = Scalars(SpecReadEventFile((*logger)->train_path()));
  EXPECT_EQ(train.size(), 2u);  // epoch_loss, epoch_accuracy (no epoch_learning_rate: NaN)
  EXPECT_EQ(train.count("batch_loss"), 0u);

  auto every_step = TensorBoardLogger::Open((run_dir_ / "b").string(), 1);
  ASSERT_TRUE(every_step.ok());
  Train(every_step->get(), /*with_learning_rate=*/false);
  train = Scalars(SpecReadEventFile((*every_step)->train_path()));
  EXPECT_EQ(train["batch_loss"].size(), 10u);
  EXPECT_EQ(train.count("learning_rate"), 0u);  // NaN: not reported by the trainer
}

TEST_F(TensorBoardTest, EveryLoggedMetricIsAScalar) {
  auto logger = TensorBoardLogger::Open(run_dir_.string(), /*log_every_steps=*/5);
  ASSERT_TRUE(logger.ok()) << logger.status();
  Train(logger->get(), /*with_learning_rate=*/false, /*auc=*/true);
  ASSERT_TRUE((*logger)->OnTrainEnd().ok());
  using Points = std::vector<std::pair<int64_t, float>>;
  auto train = Scalars(SpecReadEventFile((*logger)->train_path()));
  EXPECT_EQ(train["epoch_auc"], (Points{{0, 0.5f}, {1, 1.0f}}));
  EXPECT_EQ(train["batch_auc"], (Points{{5, 0.75f}, {10, 0.75f}}));
  EXPECT_EQ(train.count("epoch_val_auc"), 0u);
  auto validation = Scalars(SpecReadEventFile((*logger)->validation_path()));
  EXPECT_EQ(validation["epoch_auc"], (Points{{0, 0.25f}, {1, 0.5f}}));
  EXPECT_EQ(validation.size(), 3u);  // epoch_loss, epoch_accuracy, epoch_auc
}

// Streamed epochs differ in steps: batch scalars are at the optimizer's global
// step, not one reconstructed from the epoch and step.
TEST_F(TensorBoardTest, BatchScalarsAtTheGlobalStepWhenEpochsDifferInSteps) {
  auto logger = TensorBoardLogger::Open(run_dir_.string(), /*log_every_steps=*/1);
  ASSERT_TRUE(logger.ok()) << logger.status();
  ASSERT_TRUE((*logger)->OnTrainBegin(TrainBegin{}).ok());
  const int64_t steps_per_epoch[2] = {5, 3};
  int64_t global_step = 0;
  for (int64_t epoch = 1; epoch <= 2; ++epoch) {
    for (int64_t step = 1; step <= steps_per_epoch[epoch - 1]; ++step) {
      BatchEnd batch;
      batch.epoch = epoch;
      batch.step_in_epoch = step;
      batch.steps_per_epoch = steps_per_epoch[epoch - 1];
      batch.global_step = ++global_step;
      batch.loss = static_cast<double>(global_step);
      batch.logs = {{"loss", batch.loss}};
      ASSERT_TRUE((*logger)->OnBatchEnd(batch).ok());
    }
  }
  ASSERT_TRUE((*logger)->OnTrainEnd().ok());
  using Points = std::vector<std::pair<int64_t, float>>;
  auto train = Scalars(SpecReadEventFile((*logger)->train_path()));
  EXPECT_EQ(train["batch_loss"], (Points{{1, 1.0f}, {2, 2.0f}, {3, 3.0f}, {4, 4.0f},
                                         {5, 5.0f}, {6, 6.0f}, {7, 7.0f}, {8, 8.0f}}));
}

// Sets the optimizer's rate at the end of epoch `at`, as ReduceLROnPlateau
// (listed after TensorBoard) does.
class CutRateAt : public Callback {
 public:
  CutRateAt(Trainer* trainer, int64_t at, float rate) : trainer_(trainer), at_(at), rate_(rate) {}
  Status OnEpochEnd(const EpochEnd& e) override {
    return e.epoch == at_ ? trainer_->optimizer().SetLearningRate(rate_) : OkStatus();
  }

 private:
  Trainer* trainer_;
  int64_t at_;
  float rate_;
};

// The trainer reports Keras's optimizer.learning_rate at each epoch's end:
// the rate of the next step (a schedule's at the global step, not the rate of
// the step just taken), before a cut made at that epoch's end.
TEST_F(TensorBoardTest, EpochLearningRateFromTheTrainer) {
  using Points = std::vector<std::pair<int64_t, float>>;
  const data::Dataset train = testing::SeparableDataset(48, 1);  // 6 steps of 8 per epoch
  const std::string layers = "layers { dense { units: 3 } }";
  {
    // PiecewiseConstantDecay: 0.01 through step 5, then 0.002; epoch 1 ends
    // after step 6 (its last step took 0.01; Keras logs schedule(6) = 0.002).
    config::JobConfig job = testing::SmallJob(layers, /*epochs=*/2);
    auto* schedule = job.mutable_optimizer()
                         ->mutable_learning_rate_schedule()
                         ->mutable_piecewise_constant_decay();
    schedule->add_boundaries(5);
    schedule->add_values(0.01f);
    schedule->add_values(0.002f);
    auto backend = kernels::CreateCpuBackend();
    auto trainer = Trainer::Create(job, backend.get());
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto logger = TensorBoardLogger::Open((run_dir_ / "schedule").string(), 0);
    ASSERT_TRUE(logger.ok()) << logger.status();
    testing::OneRankPlanner planner(&train, 8, /*shuffle=*/false);
    ASSERT_TRUE((*trainer)->Fit(&planner, nullptr, {logger->get()}).ok());
    auto scalars = Scalars(SpecReadEventFile((*logger)->train_path()));
    EXPECT_EQ(scalars["epoch_learning_rate"], (Points{{0, 0.002f}, {1, 0.002f}}));
  }
  {
    // Adam's constant 0.001, cut to 0.0001 at the end of epoch 2 by a
    // callback after TensorBoard: epoch 2 logs 0.001, epoch 3 the cut rate.
    config::JobConfig job = testing::SmallJob(layers, /*epochs=*/3);
    auto backend = kernels::CreateCpuBackend();
    auto trainer = Trainer::Create(job, backend.get());
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    auto logger = TensorBoardLogger::Open((run_dir_ / "cut").string(), 0);
    ASSERT_TRUE(logger.ok()) << logger.status();
    CutRateAt cut(trainer->get(), /*at=*/2, 0.0001f);
    testing::OneRankPlanner planner(&train, 8, /*shuffle=*/false);
    ASSERT_TRUE((*trainer)->Fit(&planner, nullptr, {logger->get(), &cut}).ok());
    auto scalars = Scalars(SpecReadEventFile((*logger)->train_path()));
    EXPECT_EQ(scalars["epoch_learning_rate"], (Points{{0, 0.001f}, {1, 0.001f}, {2, 0.0001f}}));
  }
}

TEST_F(TensorBoardTest, BadArgumentsAreErrors) {
  auto negative = TensorBoardLogger::Open(run_dir_.string(), -1);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.status().code(), StatusCode::kInvalidArgument);

  fs::create_directories(run_dir_);
  std::ofstream(run_dir_ / "logs") << "not a directory";
  auto blocked = TensorBoardLogger::Open(run_dir_.string(), 1);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(blocked.status().message().find("logs"), std::string::npos) << blocked.status();
}

}  // namespace
}  // namespace shardtrain::callbacks
