// EarlyStopping, ReduceLROnPlateau and TerminateOnNaN against sequences worked
// out by hand from Keras 3's source (keras/src/callbacks/early_stopping.py,
// reduce_lr_on_plateau.py, monitor_callback.py; epochs 0-based there, 1-based
// in our logs): each test feeds a list of monitored values, one per epoch, and
// the comment above it traces Keras's wait/best/cooldown counters epoch by
// epoch. Also: their state goes through a checkpoint and a resumed callback
// continues the same sequence; validation_split takes the last examples; the
// config checks name the field.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "storage/io/file_system.h"
#include "storage/tensor_bundle/bundle_reader.h"
#include "tests/worker/checkpoint_test_util.h"
#include "tests/worker/trainer_test_util.h"
#include "worker/callbacks/early_stopping.h"
#include "worker/callbacks/reduce_lr_on_plateau.h"
#include "worker/callbacks/terminate_on_nan.h"
#include "worker/checkpoint/checkpoint_contents.h"
#include "worker/data/dataset.h"
#include "worker/job_config.h"
#include "worker/trainer.h"

namespace shardtrain::callbacks {
namespace {

constexpr char kLayers[] = "layers { dense { units: 3 } }";

// A validated small job with `callbacks_text` as its callbacks section.
config::JobConfig JobWith(const std::string& callbacks_text, int epochs = 10,
                          const std::string& optimizer_text = "adam { } learning_rate: 0.01") {
  config::JobConfig job = testing::SmallJob(kLayers, epochs);
  StatusOr<config::JobConfig> parsed =
      ParseJobConfig("callbacks { " + callbacks_text + " } optimizer { " + optimizer_text + " }",
                     "callbacks");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  job.MergeFrom(*parsed);
  *job.mutable_optimizer() = parsed->optimizer();
  Status valid = ValidateJobConfig(&job);
  EXPECT_TRUE(valid.ok()) << valid;
  return job;
}

// The epoch-end logs Keras would pass: `monitor` = value (loss and accuracy too).
EpochEnd Epoch(int64_t epoch, const std::string& monitor, double value) {
  EpochEnd end;
  end.epoch = epoch;
  end.logs = {{"loss", 1.0}, {"accuracy", 0.5}, {"val_loss", 1.0}, {"val_accuracy", 0.5}};
  for (auto& [name, logged] : end.logs) {
    if (name == monitor) logged = value;
  }
  return end;
}

// OnTrainBegin's description of a run of `epochs` epochs.
TrainBegin Begin(int64_t epochs) {
  TrainBegin begin;
  begin.epochs = epochs;
  return begin;
}

class CallbacksTest : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = kernels::CreateCpuBackend(); }

  std::unique_ptr<Trainer> MakeTrainer(const config::JobConfig& job) {
    auto trainer = Trainer::Create(job, backend_.get());
    EXPECT_TRUE(trainer.ok()) << trainer.status();
    return std::move(*trainer);
  }

  // Feeds `values` of `monitor` as epochs first_epoch, first_epoch + 1, ...
  // (1-based) and returns the 1-based epoch after which the callback asked to
  // stop (0: never). Before each epoch's end, weight 0 becomes the epoch number.
  int64_t Feed(Callback& callback, Trainer& trainer, const std::string& monitor,
               const std::vector<double>& values, int64_t first_epoch = 1) {
    for (size_t i = 0; i < values.size(); ++i) {
      const int64_t epoch = first_epoch + static_cast<int64_t>(i);
      trainer.model().parameters().params()[0] = static_cast<float>(epoch);
      Status status = callback.OnEpochEnd(Epoch(epoch, monitor, values[i]));
      EXPECT_TRUE(status.ok()) << status;
      if (StopRequested(trainer)) return epoch;
    }
    return 0;
  }

  // Trainer::RequestStop is observable only through Fit; a callback test reads
  // the flag that EarlyStopping saves with its state instead.
  static bool StopRequested(const Trainer& trainer) {
    return EarlyStopping::StoppedEpoch(trainer.callback_state()).has_value();
  }

  std::unique_ptr<kernels::KernelBackend> backend_;
};

// val_loss [0.5, 0.4, 0.41, 0.42, 0.39], patience 2, mode min:
//   epoch 0: best None -> 0.5, wait 0;  epoch 1: 0.4 < 0.5, best 0.4, wait 0;
//   epoch 2: wait 1, 0.41 no improvement, 1 < 2;  epoch 3: wait 2 >= 2 -> stop.
// Keras stops after the 4th epoch (stopped_epoch 3); 0.39 is never seen.
TEST_F(CallbacksTest, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement) {
  const config::JobConfig job = JobWith("early_stopping { patience: 2 }");
  EXPECT_EQ(job.callbacks().early_stopping().monitor(), "val_loss");
  EXPECT_EQ(job.callbacks().early_stopping().mode(), "min");
  auto trainer = MakeTrainer(job);
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), nullptr);
  ASSERT_TRUE(stopping.OnTrainBegin(Begin(10)).ok());
  EXPECT_EQ(Feed(stopping, *trainer, "val_loss", {0.5, 0.4, 0.41, 0.42, 0.39}), 4);
  EXPECT_EQ(EarlyStopping::StoppedEpoch(trainer->callback_state()), 4);
}

// min_delta 0.05, patience 2: an improvement must be below best - 0.05.
//   e0 best 1.0; e1 0.97 + 0.05 >= 1.0: wait 1; e2 0.90 + 0.05 < 1.0: best 0.90,
//   wait 0; e3 0.89 + 0.05 >= 0.90: wait 1; e4 0.88: wait 2 -> stop after epoch 5.
TEST_F(CallbacksTest, EarlyStoppingCountsOnlyImprovementsBeyondMinDelta) {
  const config::JobConfig job = JobWith("early_stopping { min_delta: 0.05 patience: 2 }");
  auto trainer = MakeTrainer(job);
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), nullptr);
  EXPECT_EQ(Feed(stopping, *trainer, "val_loss", {1.0, 0.97, 0.90, 0.89, 0.88, 0.5}), 5);
}

// val_accuracy (auto: max), baseline 0.8, patience 2. Improvements that stay
// under the baseline do not reset wait, but an improving epoch never stops:
//   e0 wait 1, best 0.6 (under 0.8: wait stays 1); e1 wait 2, best 0.7;
//   e2 wait 3, best 0.75; e3 wait 4, 0.74 no improvement, 4 >= 2 -> stop after 4.
TEST_F(CallbacksTest, EarlyStoppingWithABaselineStopsWhenNothingBeatsIt) {
  const config::JobConfig job =
      JobWith("early_stopping { monitor: \"val_accuracy\" baseline: 0.8 patience: 2 }");
  EXPECT_EQ(job.callbacks().early_stopping().mode(), "max");
  auto trainer = MakeTrainer(job);
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), nullptr);
  EXPECT_EQ(Feed(stopping, *trainer, "val_accuracy", {0.6, 0.7, 0.75, 0.74}), 4);
}

// start_from_epoch 2, patience 1, val_loss rising [0.5, 0.6, 0.7, 0.8]:
// epochs 0-1 are ignored, e2 sets best 0.7, e3 wait 1 >= 1 -> stop after 4
// (without the warm-up it would stop after epoch 2).
TEST_F(CallbacksTest, EarlyStoppingIgnoresEpochsBeforeStartFromEpoch) {
  const config::JobConfig job = JobWith("early_stopping { patience: 1 start_from_epoch: 2 }");
  auto trainer = MakeTrainer(job);
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), nullptr);
  EXPECT_EQ(Feed(stopping, *trainer, "val_loss", {0.5, 0.6, 0.7, 0.8}), 4);

  const config::JobConfig eager = JobWith("early_stopping { patience: 1 }");
  auto other = MakeTrainer(eager);
  EarlyStopping no_warmup(eager.callbacks().early_stopping(), other.get(), nullptr);
  EXPECT_EQ(Feed(no_warmup, *other, "val_loss", {0.5, 0.6, 0.7, 0.8}), 2);
}

// restore_best_weights: the best epoch of [0.5, 0.4, 0.41, 0.42] is epoch 2
// (1-based), so when training stops after epoch 4 weight 0 (set to the epoch
// number before each epoch end) is 2 again; the other weights are untouched.
TEST_F(CallbacksTest, EarlyStoppingRestoresTheBestEpochsWeightsWhenItStops) {
  const config::JobConfig job =
      JobWith("early_stopping { patience: 2 restore_best_weights: true }");
  auto trainer = MakeTrainer(job);
  const float weight1 = trainer->model().parameters().params()[1];
  std::ostringstream out;
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), &out);
  ASSERT_TRUE(stopping.OnTrainBegin(Begin(10)).ok());
  EXPECT_EQ(Feed(stopping, *trainer, "val_loss", {0.5, 0.4, 0.41, 0.42}), 4);
  EXPECT_EQ(trainer->model().parameters().params()[0], 2.0f);
  EXPECT_EQ(trainer->model().parameters().params()[1], weight1);
  EXPECT_EQ(out.str(),
            "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: "
            "2.\n");
}

// Keras 3 also restores at the end of a run that was not stopped: 3 epochs of
// [0.5, 0.4, 0.45] end with epoch 2's weights.
TEST_F(CallbacksTest, EarlyStoppingRestoresTheBestWeightsAfterTheLastEpoch) {
  const config::JobConfig job =
      JobWith("early_stopping { patience: 5 restore_best_weights: true }", 3);
  auto trainer = MakeTrainer(job);
  EarlyStopping stopping(job.callbacks().early_stopping(), trainer.get(), nullptr);
  ASSERT_TRUE(stopping.OnTrainBegin(Begin(3)).ok());
  EXPECT_EQ(Feed(stopping, *trainer, "val_loss", {0.5, 0.4, 0.45}), 0);
  EXPECT_EQ(trainer->model().parameters().params()[0], 2.0f);
}

// The state goes through a checkpoint: a run interrupted after epoch 2 of the
// first sequence and resumed (a new callback on a trainer restored from the
// bundle) stops after epoch 4 and restores epoch 2's weights, as the
// uninterrupted run does.
TEST_F(CallbacksTest, EarlyStoppingStateSurvivesACheckpoint) {
  const config::JobConfig job =
      JobWith("early_stopping { patience: 2 restore_best_weights: true }");
  auto first = MakeTrainer(job);
  EarlyStopping before(job.callbacks().early_stopping(), first.get(), nullptr);
  EXPECT_EQ(Feed(before, *first, "val_loss", {0.5, 0.4}), 0);
  checkpoint::SavedState state;
  state.config_hash = checkpoint::TrajectoryConfigHash(job);
  auto tensors = checkpoint::GatherCheckpointTensors(*first, job, state);
  ASSERT_TRUE(tensors.ok()) << tensors.status();
  storage::MemoryFileSystem fs;
  ASSERT_TRUE(fs.CreateDirs("/ckpt").ok());
  checkpoint::testing::WriteOneShardBundle(&fs, "/ckpt/ckpt-2", *tensors);
  auto reader = storage::BundleReader::Open(&fs, "/ckpt/ckpt-2");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Contains("_SHARDTRAIN_STATE/callbacks/early_stopping/wait"));
  EXPECT_TRUE((*reader)->Contains("_SHARDTRAIN_STATE/callbacks/early_stopping/best_weights"));

  auto resumed = MakeTrainer(job);
  auto restored = checkpoint::RestoreCheckpoint(**reader, "/ckpt/ckpt-2", *resumed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->callbacks.scalars, first->callback_state().scalars);
  resumed->callback_state() = restored->callbacks;
  EarlyStopping after(job.callbacks().early_stopping(), resumed.get(), nullptr);
  ASSERT_TRUE(after.OnTrainBegin(Begin(10)).ok());
  EXPECT_EQ(Feed(after, *resumed, "val_loss", {0.41, 0.42, 0.39}, 3), 4);
  EXPECT_EQ(resumed->model().parameters().params()[0], 2.0f);
}

// A checkpoint of a job without stateful callbacks has no callback keys
// (its bytes stay what they were).
TEST_F(CallbacksTest, NoCallbackStateWithoutStatefulCallbacks) {
  const config::JobConfig job = testing::SmallJob(kLayers, 2);
  EXPECT_FALSE(job.has_callbacks());
  auto trainer = MakeTrainer(job);
  auto tensors = checkpoint::GatherCheckpointTensors(*trainer, job, checkpoint::SavedState{});
  ASSERT_TRUE(tensors.ok());
  for (const checkpoint::SaveTensor& t : *tensors) {
    EXPECT_EQ(t.key.find("callbacks/"), std::string::npos) << t.key;
  }
}

// factor 0.5, patience 1, cooldown 2, min_lr 0.002, min_delta 0, a flat
// val_loss of 1.0 from a rate of 0.01 (Keras's on_epoch_end: the cooldown
// counter drops first, and wait only counts outside the cooldown):
//   e0 best 1.0;  e1 wait 1 -> rate 0.005, cooldown 2;  e2 cooldown 1: nothing;
//   e3 cooldown 0, wait 1 -> 0.0025, cooldown 2;  e4 cooldown 1;
//   e5 wait 1 -> max(0.00125, 0.002) = 0.002;  e6 0.002 is not > min_lr: stays.
TEST_F(CallbacksTest, ReduceLROnPlateauFollowsKerasCooldownAndMinLr) {
  const config::JobConfig job = JobWith(
      "reduce_lr_on_plateau { factor: 0.5 patience: 1 cooldown: 2 min_lr: 0.002 min_delta: 0 }");
  auto trainer = MakeTrainer(job);
  auto reduce = ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), trainer.get(),
                                          nullptr);
  ASSERT_TRUE(reduce.ok()) << reduce.status();
  const std::vector<float> expected = {0.01f, 0.005f, 0.005f, 0.0025f, 0.0025f, 0.002f, 0.002f};
  for (size_t e = 0; e < expected.size(); ++e) {
    ASSERT_TRUE((*reduce)->OnEpochEnd(Epoch(static_cast<int64_t>(e) + 1, "val_loss", 1.0)).ok());
    EXPECT_FLOAT_EQ(trainer->optimizer().learning_rate(), expected[e]) << "epoch " << e + 1;
  }
}

// Defaults (factor 0.1, patience 10, min_delta 1e-4); an improvement resets
// wait: with patience 2, [1.0, 0.99995, 0.9, 0.9, 0.9] lowers the rate once,
// after epoch 5 (0.99995 is within min_delta, 0.9 improves, then two flat
// epochs). A resumed callback continues with the lowered rate and counters.
TEST_F(CallbacksTest, ReduceLROnPlateauStateAndRateSurviveAResume) {
  const config::JobConfig job = JobWith("reduce_lr_on_plateau { patience: 2 }");
  EXPECT_DOUBLE_EQ(job.callbacks().reduce_lr_on_plateau().factor(), 0.1);
  EXPECT_DOUBLE_EQ(job.callbacks().reduce_lr_on_plateau().min_delta(), 1e-4);
  auto trainer = MakeTrainer(job);
  auto reduce = ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), trainer.get(),
                                          nullptr);
  ASSERT_TRUE(reduce.ok());
  const std::vector<double> values = {1.0, 0.99995, 0.9, 0.9, 0.9, 0.9, 0.9};
  for (int e = 0; e < 5; ++e) ASSERT_TRUE((*reduce)->OnEpochEnd(Epoch(e + 1, "val_loss", values[e])).ok());
  EXPECT_FLOAT_EQ(trainer->optimizer().learning_rate(), 0.001f);

  auto resumed = MakeTrainer(job);
  resumed->callback_state() = trainer->callback_state();
  auto again = ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), resumed.get(),
                                         nullptr);
  ASSERT_TRUE(again.ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.001f);
  // Two more flat epochs: wait 1, then 2 -> 0.0001, as without the resume.
  ASSERT_TRUE((*again)->OnEpochEnd(Epoch(6, "val_loss", 0.9)).ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.001f);
  ASSERT_TRUE((*again)->OnEpochEnd(Epoch(7, "val_loss", 0.9)).ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.0001f);
}

// --learning-rate 0.0001 --allow-config-change on resume, after the rate of
// the resume test above was cut from 0.01 to 0.001 (best 0.9, wait 0): the
// resumed run trains at 0.0001, not the checkpoint's 0.001, with fresh
// counters (Keras's on_train_begin resets wait, cooldown and best), so two
// flat epochs keep it (e6 best None -> 0.9, e7 wait 1) and the third cuts it
// (e8 wait 2); with the old counters e7 would cut it.
TEST_F(CallbacksTest, ReduceLROnPlateauResumesAtAChangedConfiguredRate) {
  const config::JobConfig job = JobWith("reduce_lr_on_plateau { patience: 2 }");
  auto trainer = MakeTrainer(job);
  auto reduce =
      ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), trainer.get(), nullptr);
  ASSERT_TRUE(reduce.ok());
  const std::vector<double> values = {1.0, 0.99995, 0.9, 0.9, 0.9};
  for (int e = 0; e < 5; ++e) {
    ASSERT_TRUE((*reduce)->OnEpochEnd(Epoch(e + 1, "val_loss", values[e])).ok());
  }
  ASSERT_FLOAT_EQ(trainer->optimizer().learning_rate(), 0.001f);

  const config::JobConfig changed =
      JobWith("reduce_lr_on_plateau { patience: 2 }", 10, "adam { } learning_rate: 0.0001");
  auto resumed = MakeTrainer(changed);
  resumed->callback_state() = trainer->callback_state();
  std::ostringstream out;
  auto again =
      ReduceLROnPlateau::Create(changed.callbacks().reduce_lr_on_plateau(), resumed.get(), &out);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.0001f);
  EXPECT_NE(out.str().find("optimizer.learning_rate changed from 0.01 to 0.0001 since the "
                           "checkpoint: training continues at 0.0001, not the checkpoint's 0.001"),
            std::string::npos)
      << out.str();
  ASSERT_TRUE((*again)->OnEpochEnd(Epoch(6, "val_loss", 0.9)).ok());
  ASSERT_TRUE((*again)->OnEpochEnd(Epoch(7, "val_loss", 0.9)).ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.0001f);
  ASSERT_TRUE((*again)->OnEpochEnd(Epoch(8, "val_loss", 0.9)).ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.00001f);

  // A later resume under the changed config keeps the rate and counters it saved.
  auto third = MakeTrainer(changed);
  third->callback_state() = resumed->callback_state();
  std::ostringstream third_out;
  ASSERT_TRUE(
      ReduceLROnPlateau::Create(changed.callbacks().reduce_lr_on_plateau(), third.get(), &third_out)
          .ok());
  EXPECT_FLOAT_EQ(third->optimizer().learning_rate(), 0.00001f);
  EXPECT_NE(third_out.str().find("resuming at the checkpoint's learning rate 1e-05, not "
                                 "optimizer.learning_rate 0.0001 (lowered on a plateau)"),
            std::string::npos)
      << third_out.str();
}

// The rate was never cut (the state still saves it after every epoch): a
// changed configured rate is used on resume; an unchanged one says nothing.
TEST_F(CallbacksTest, ReduceLROnPlateauUncutRateFollowsTheConfigOnResume) {
  const config::JobConfig job = JobWith("reduce_lr_on_plateau { patience: 2 }");
  auto trainer = MakeTrainer(job);
  auto reduce =
      ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), trainer.get(), nullptr);
  ASSERT_TRUE(reduce.ok());
  ASSERT_TRUE((*reduce)->OnEpochEnd(Epoch(1, "val_loss", 1.0)).ok());

  std::ostringstream same_out;
  auto same = MakeTrainer(job);
  same->callback_state() = trainer->callback_state();
  ASSERT_TRUE(
      ReduceLROnPlateau::Create(job.callbacks().reduce_lr_on_plateau(), same.get(), &same_out)
          .ok());
  EXPECT_FLOAT_EQ(same->optimizer().learning_rate(), 0.01f);
  EXPECT_EQ(same_out.str(), "");

  const config::JobConfig changed =
      JobWith("reduce_lr_on_plateau { patience: 2 }", 10, "adam { } learning_rate: 0.0001");
  auto resumed = MakeTrainer(changed);
  resumed->callback_state() = trainer->callback_state();
  std::ostringstream out;
  ASSERT_TRUE(
      ReduceLROnPlateau::Create(changed.callbacks().reduce_lr_on_plateau(), resumed.get(), &out)
          .ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.0001f);
  EXPECT_NE(out.str().find("training continues at 0.0001, not the checkpoint's 0.01"),
            std::string::npos)
      << out.str();
  // The state already says so: a checkpoint before the next epoch's end resumes the same way.
  EXPECT_EQ(resumed->callback_state().Scalar("reduce_lr_on_plateau/configured_learning_rate"),
            static_cast<double>(0.0001f));
  EXPECT_FALSE(resumed->callback_state().Scalar("reduce_lr_on_plateau/best").has_value());
}

// A checkpoint written before the configured rate was saved: its rate is kept
// (it cannot tell a cut from a changed config), and the message says so.
TEST_F(CallbacksTest, ReduceLROnPlateauStateWithoutConfiguredRateKeepsItsRate) {
  const config::JobConfig changed =
      JobWith("reduce_lr_on_plateau { patience: 2 }", 10, "adam { } learning_rate: 0.0001");
  auto resumed = MakeTrainer(changed);
  resumed->callback_state().scalars = {{"reduce_lr_on_plateau/wait", 1},
                                       {"reduce_lr_on_plateau/cooldown_counter", 0},
                                       {"reduce_lr_on_plateau/best", 0.9},
                                       {"reduce_lr_on_plateau/learning_rate", 0.001f}};
  std::ostringstream out;
  ASSERT_TRUE(
      ReduceLROnPlateau::Create(changed.callbacks().reduce_lr_on_plateau(), resumed.get(), &out)
          .ok());
  EXPECT_FLOAT_EQ(resumed->optimizer().learning_rate(), 0.001f);
  EXPECT_NE(out.str().find("resuming at the checkpoint's learning rate 0.001, not "
                           "optimizer.learning_rate 0.0001 (the checkpoint, written by an older"),
            std::string::npos)
      << out.str();
}

TEST_F(CallbacksTest, TerminateOnNaNNamesTheStep) {
  auto trainer = MakeTrainer(testing::SmallJob(kLayers, 2));
  TerminateOnNaN terminate(trainer.get());
  BatchEnd batch;
  batch.epoch = 2;
  batch.step_in_epoch = 3;
  batch.steps_per_epoch = 10;
  batch.loss = 0.7;
  EXPECT_TRUE(terminate.OnBatchEnd(batch).ok());
  batch.loss = std::numeric_limits<double>::quiet_NaN();
  Status nan = terminate.OnBatchEnd(batch);
  EXPECT_EQ(nan.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(nan.message().find("invalid loss (nan) at epoch 2, step 3 of 10"), std::string::npos)
      << nan;
  batch.loss = std::numeric_limits<double>::infinity();
  EXPECT_EQ(terminate.OnBatchEnd(batch).code(), StatusCode::kInvalidArgument);
}

// A diverging run (an absurd rate) ends with the error instead of training on.
TEST_F(CallbacksTest, TerminateOnNaNStopsADivergingFit) {
  config::JobConfig job = testing::SmallJob(kLayers, 3);
  job.mutable_optimizer()->set_learning_rate(3e38f);  // the first update overflows the logits
  auto trainer = MakeTrainer(job);
  const data::Dataset data = testing::SeparableDataset(64, 7);
  testing::OneRankPlanner planner(&data, 8, false);
  TerminateOnNaN terminate(trainer.get());
  Status fit = trainer->Fit(&planner, &data, {&terminate});
  EXPECT_EQ(fit.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(fit.message().find("invalid loss"), std::string::npos) << fit;
}

// Keras's train_validation_split: the first floor(n * (1 - split)) examples
// train, the LAST ones validate. 10 examples in shards [4, 4, 2], split 0.25:
// floor(7.5) = 7 train (shards [4, 3]), examples 7, 8, 9 validate.
TEST(ValidationSplitTest, TakesTheLastExamples) {
  data::Dataset d = testing::SeparableDataset(10, 3);
  d.shard_sizes = {4, 4, 2};
  const data::Dataset original = d;
  auto parts = data::SplitForValidation(std::move(d), 0.25);
  ASSERT_TRUE(parts.ok()) << parts.status();
  const auto& [train, val] = *parts;
  EXPECT_EQ(train.num_examples, 7);
  EXPECT_EQ(train.shard_sizes, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(val.num_examples, 3);
  EXPECT_EQ(val.labels, std::vector<int32_t>(original.labels.begin() + 7, original.labels.end()));
  EXPECT_EQ(val.features,
            std::vector<float>(original.features.begin() + 7 * 12, original.features.end()));
  EXPECT_EQ(train.features, std::vector<float>(original.features.begin(),
                                               original.features.begin() + 7 * 12));
  // 1000 examples, 0.2: 800 train (double arithmetic, as Python's).
  auto thousand = data::SplitForValidation(testing::SeparableDataset(1000, 3), 0.2);
  ASSERT_TRUE(thousand.ok());
  EXPECT_EQ(thousand->first.num_examples, 800);
  // Too few examples to split: Keras's error.
  EXPECT_EQ(data::SplitForValidation(testing::SeparableDataset(1, 3), 0.5).status().code(),
            StatusCode::kInvalidArgument);
}

// Bad settings are refused naming the field.
TEST(CallbacksConfigTest, RefusesWhatKerasRefuses) {
  auto check = [](const std::string& text, const std::string& expected) {
    config::JobConfig job = testing::SmallJob(kLayers, 4);
    auto extra = ParseJobConfig(text, "extra");
    ASSERT_TRUE(extra.ok()) << extra.status();
    job.MergeFrom(*extra);
    Status status = ValidateJobConfig(&job);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(status.message().find(expected), std::string::npos) << status;
  };
  check("callbacks { early_stopping { monitor: \"val_auc\" } }",
        "callbacks.early_stopping.monitor 'val_auc' is not logged");
  check("callbacks { early_stopping { mode: \"up\" } }", "callbacks.early_stopping.mode");
  check("callbacks { reduce_lr_on_plateau { factor: 1.0 } }",
        "callbacks.reduce_lr_on_plateau.factor must be in [0, 1)");
  check(
      "callbacks { reduce_lr_on_plateau { } } optimizer { learning_rate_schedule { "
      "exponential_decay { initial_learning_rate: 0.1 decay_steps: 10 decay_rate: 0.9 } } }",
      "callbacks.reduce_lr_on_plateau changes the optimizer's learning rate");
  check("training { validation_split: 1.0 }", "training.validation_split must be in [0, 1)");
  check("training { initial_epoch: 4 }", "training.initial_epoch must be in [0, training.epochs");
}

// EarlyStopping decides only when to stop (like epochs): a resume may change
// it. ReduceLROnPlateau and validation_split change the trajectory.
TEST(CallbacksConfigTest, TrajectoryHashCoversWhatChangesTheTrajectory) {
  const config::JobConfig base = testing::SmallJob(kLayers, 4);
  config::JobConfig stopping = base, reduce = base, split = base, initial = base;
  stopping.mutable_callbacks()->mutable_early_stopping()->set_patience(3);
  reduce.mutable_callbacks()->mutable_reduce_lr_on_plateau()->set_patience(3);
  split.mutable_training()->set_validation_split(0.1);
  initial.mutable_training()->set_initial_epoch(2);
  const std::string hash = checkpoint::TrajectoryConfigHash(base);
  EXPECT_EQ(checkpoint::TrajectoryConfigHash(stopping), hash);
  EXPECT_EQ(checkpoint::TrajectoryConfigHash(initial), hash);
  EXPECT_NE(checkpoint::TrajectoryConfigHash(reduce), hash);
  EXPECT_NE(checkpoint::TrajectoryConfigHash(split), hash);
}

}  // namespace
}  // namespace shardtrain::callbacks
