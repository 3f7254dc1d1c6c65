// Trainer: shuffling, learning on separable synthetic data, bitwise
// determinism for a fixed seed, and dataset/model mismatches.
#include "worker/trainer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/job_config.h"

namespace shardtrain {
namespace {

using testing::OneRankPlanner;
using testing::SeparableDataset;

config::JobConfig SmallJob() {
  return testing::SmallJob(
      "layers { dense { units: 16 activation: RELU } } layers { dropout { rate: 0.2 } } "
      "layers { dense { units: 3 } }",
      /*epochs=*/3);
}

class RecordingCallback : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    epochs.push_back(e);
    return OkStatus();
  }
  std::vector<callbacks::EpochEnd> epochs;
};

// One rank, whole batches in a per-epoch shuffled order (Fisher–Yates over Philox).
TEST(TrainerTest, LearnsSeparableData) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(SmallJob(), backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  data::Dataset train = SeparableDataset(400, 1), val = SeparableDataset(100, 2);
  auto before = (*trainer)->Evaluate(val);
  ASSERT_TRUE(before.ok());
  RecordingCallback record;
  OneRankPlanner planner(&train, 8, /*shuffle=*/true);
  ASSERT_TRUE((*trainer)->Fit(&planner, &val, {&record}).ok());
  ASSERT_EQ(record.epochs.size(), 3u);
  EXPECT_EQ(record.epochs[2].step, 3 * 50);
  EXPECT_LT(*record.epochs[2].Log("loss"), *record.epochs[0].Log("loss"));
  EXPECT_GT(*record.epochs[2].Log("val_accuracy"), 0.95);
  EXPECT_LT(*record.epochs[2].Log("val_loss"), before->loss);
  EXPECT_EQ((*trainer)->optimizer().iterations(), 150);
}

TEST(TrainerTest, SameSeedGivesBitwiseIdenticalLosses) {
  auto run = [](uint64_t seed) {
    config::JobConfig job = SmallJob();
    job.mutable_training()->set_seed(seed);
    auto backend = kernels::CreateCpuBackend();
    auto trainer = Trainer::Create(job, backend.get());
    EXPECT_TRUE(trainer.ok());
    RecordingCallback record;
    const data::Dataset train = SeparableDataset(200, 1), val = SeparableDataset(50, 2);
    OneRankPlanner planner(&train, 8, /*shuffle=*/true);
    EXPECT_TRUE((*trainer)->Fit(&planner, &val, {&record}).ok());
    std::vector<double> losses;
    for (const auto& e : record.epochs) {
      losses.push_back(*e.Log("loss"));
      losses.push_back(*e.Log("val_loss"));
    }
    return losses;
  };
  std::vector<double> a = run(5), b = run(5), c = run(6);
  EXPECT_EQ(a, b);  // bitwise: EXPECT_EQ on doubles
  EXPECT_NE(a, c);
}

TEST(TrainerTest, RejectsDatasetOfTheWrongWidth) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(SmallJob(), backend.get());
  ASSERT_TRUE(trainer.ok());
  data::Dataset wide = SeparableDataset(10, 1);
  wide.feature_size = 6;
  wide.num_examples = 20;
  OneRankPlanner planner(&wide, 8, /*shuffle=*/true);
  Status status = (*trainer)->Fit(&planner, &wide, {});
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("have 6 values each but model.input_shape has 12"),
            std::string::npos)
      << status;
}

TEST(TrainerTest, OutputWidthMustMatchNumClasses) {
  config::JobConfig job = SmallJob();
  job.mutable_data()->set_num_classes(4);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_EQ(trainer.status().code(), StatusCode::kInvalidArgument) << trainer.status();
  EXPECT_NE(trainer.status().message().find("3 units but data.num_classes is 4"),
            std::string::npos);
}

TEST(TrainerTest, FromLogitsMismatchIsExplained) {
  config::JobConfig job = SmallJob();
  job.mutable_model()->mutable_layers(2)->mutable_dense()->set_activation(config::SOFTMAX);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_EQ(trainer.status().code(), StatusCode::kInvalidArgument) << trainer.status();
  EXPECT_NE(trainer.status().message().find("from_logits is true but the last layer applies"),
            std::string::npos)
      << trainer.status();
  // The softmax head with from_logits: false trains (fused softmax cross-entropy).
  job.mutable_loss()->mutable_sparse_categorical_crossentropy()->set_from_logits(false);
  trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  RecordingCallback record;
  const data::Dataset train = SeparableDataset(400, 1), val = SeparableDataset(100, 2);
  OneRankPlanner planner(&train, 8, /*shuffle=*/true);
  ASSERT_TRUE((*trainer)->Fit(&planner, &val, {&record}).ok());
  EXPECT_GT(*record.epochs.back().Log("val_accuracy"), 0.95);
}

// A Dropout after the softmax head: in training Keras drops probabilities and
// takes the cross-entropy of the rest, while the fused loss would drop the
// logits; Fit refuses such a job naming the Dropout (evaluation, without
// dropout, still works). A rate of 0, or the Dropout before the head, trains.
TEST(TrainerTest, ActiveDropoutAfterAFusedSoftmaxHeadIsRefusedForTraining) {
  auto backend = kernels::CreateCpuBackend();
  const data::Dataset train = SeparableDataset(16, 1);
  auto fit = [&](const std::string& layers, Status* evaluated) {
    config::JobConfig job = testing::SmallJob(layers, /*epochs=*/1);
    job.mutable_loss()->mutable_sparse_categorical_crossentropy()->set_from_logits(false);
    auto trainer = Trainer::Create(job, backend.get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    if (!trainer.ok()) return trainer.status();
    if (evaluated != nullptr) *evaluated = (*trainer)->Evaluate(train).status();
    OneRankPlanner planner(&train, 8, /*shuffle=*/false);
    return (*trainer)->Fit(&planner, nullptr, {});
  };
  Status evaluated;
  const Status after =
      fit("layers { dense { units: 16 activation: RELU } } "
          "layers { dense { units: 3 activation: SOFTMAX } } "
          "layers { name: \"head_dropout\" dropout { rate: 0.5 } }",
          &evaluated);
  EXPECT_EQ(after.code(), StatusCode::kInvalidArgument) << after;
  EXPECT_NE(after.message().find("Dropout 'head_dropout' follows that softmax"), std::string::npos)
      << after;
  EXPECT_TRUE(evaluated.ok()) << evaluated;
  EXPECT_TRUE(
      fit("layers { dense { units: 16 activation: RELU } } "
          "layers { dense { units: 3 activation: SOFTMAX } } layers { dropout { rate: 0 } }",
          nullptr)
          .ok());
  EXPECT_TRUE(
      fit("layers { dense { units: 16 activation: RELU } } layers { dropout { rate: 0.5 } } "
          "layers { dense { units: 3 activation: SOFTMAX } }",
          nullptr)
          .ok());
}

// The batch logs (TensorBoard's learning_rate) carry the scheduled rate of the
// step just taken: PiecewiseConstantDecay values[0] through step 3, then values[1].
TEST(TrainerTest, BatchLearningRateFollowsTheSchedule) {
  config::JobConfig job = SmallJob();
  job.mutable_training()->set_epochs(1);
  auto* schedule =
      job.mutable_optimizer()->mutable_learning_rate_schedule()->mutable_piecewise_constant_decay();
  schedule->add_boundaries(3);
  schedule->add_values(0.01f);
  schedule->add_values(0.002f);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  class BatchRates : public callbacks::Callback {
   public:
    Status OnBatchEnd(const callbacks::BatchEnd& b) override {
      rates.push_back(b.learning_rate);
      return OkStatus();
    }
    std::vector<double> rates;
  } record;
  const data::Dataset train = SeparableDataset(48, 1), val = SeparableDataset(16, 2);
  OneRankPlanner planner(&train, 8, /*shuffle=*/false);
  ASSERT_TRUE((*trainer)->Fit(&planner, &val, {&record}).ok());
  const double a = 0.01f, b = 0.002f;
  EXPECT_EQ(record.rates, (std::vector<double>{a, a, a, a, b, b}));
  EXPECT_FLOAT_EQ((*trainer)->optimizer().learning_rate(), 0.002f);
}

// Epochs of `train` (one rank) whose steps differ, as streamed epochs do:
// epoch e takes steps of rows_per_step[e] examples in example order.
class UnevenEpochsPlanner : public EpochPlanner {
 public:
  UnevenEpochsPlanner(const data::Dataset* train, std::vector<int64_t> rows_per_step)
      : train_(train), rows_per_step_(std::move(rows_per_step)) {}

  StatusOr<std::unique_ptr<EpochBatches>> Plan(int64_t epoch, int64_t,
                                               const std::vector<DataStage>&) override {
    return std::unique_ptr<EpochBatches>(
        new Batches(train_, rows_per_step_[static_cast<size_t>(epoch)]));
  }
  int64_t epoch_examples() const override { return train_->num_examples; }
  Status CheckExamples(int64_t, int64_t) const override { return OkStatus(); }

 private:
  class Batches : public EpochBatches {
   public:
    Batches(const data::Dataset* train, int64_t rows) : train_(train), rows_(rows) {}
    int64_t steps_in_epoch() const override { return train_->num_examples / rows_; }
    int64_t first_step() const override { return 0; }
    int64_t steps() const override { return steps_in_epoch(); }
    StatusOr<StepRows> Next(float* x, int32_t* class_ids, float* label_values) override {
      std::vector<int64_t> ids(static_cast<size_t>(rows_));
      std::iota(ids.begin(), ids.end(), next_);
      GatherRows(*train_, ids.data(), rows_, x, class_ids, label_values);
      next_ += rows_;
      return StepRows{rows_, 0, rows_};
    }
    const std::vector<DataStage>& cursor() const override { return no_stages_; }

   private:
    const data::Dataset* train_;
    int64_t rows_;
    int64_t next_ = 0;
    std::vector<DataStage> no_stages_;
  };

  const data::Dataset* train_;
  std::vector<int64_t> rows_per_step_;
};

// Epochs that differ in steps: OnTrainBegin counts the first epoch's steps
// (not whole batches of the examples) and each BatchEnd carries the
// optimizer's global step.
TEST(TrainerTest, UnevenEpochsReportTheirOwnStepsAndTheGlobalStep) {
  config::JobConfig job = SmallJob();
  job.mutable_training()->set_epochs(2);
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  class Steps : public callbacks::Callback {
   public:
    Status OnTrainBegin(const callbacks::TrainBegin& b) override {
      steps_per_epoch = b.steps_per_epoch;
      return OkStatus();
    }
    Status OnBatchEnd(const callbacks::BatchEnd& b) override {
      global_steps.push_back(b.global_step);
      steps_in_epoch.push_back(b.steps_per_epoch);
      return OkStatus();
    }
    int64_t steps_per_epoch = 0;
    std::vector<int64_t> global_steps, steps_in_epoch;
  } record;
  const data::Dataset train = SeparableDataset(48, 1);
  UnevenEpochsPlanner planner(&train, {6, 8});  // 8 steps, then 6 (batch_size 8)
  ASSERT_TRUE((*trainer)->Fit(&planner, nullptr, {&record}).ok());
  EXPECT_EQ(record.steps_per_epoch, 8);
  std::vector<int64_t> expected(14);
  std::iota(expected.begin(), expected.end(), int64_t{1});
  EXPECT_EQ(record.global_steps, expected);
  EXPECT_EQ(record.steps_in_epoch[0], 8);
  EXPECT_EQ(record.steps_in_epoch.back(), 6);
}

}  // namespace
}  // namespace shardtrain
