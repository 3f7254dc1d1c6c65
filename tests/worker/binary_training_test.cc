// Training a one-unit binary classifier with binary_crossentropy (both
// from_logits forms) on data.num_classes 2, and fit's class_weight through the
// whole step: a uniform weight w under SGD is exactly the rate times w.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/worker/trainer_test_util.h"
#include "worker/trainer.h"

namespace shardtrain {
namespace {

using testing::OneRankPlanner;
using testing::SeparableDataset;

// SeparableDataset's class 2 against the rest: labels 0/1.
data::Dataset BinaryDataset(int64_t n, uint64_t seed) {
  data::Dataset d = SeparableDataset(n, seed);
  for (int32_t& label : d.labels) label = label == 2 ? 1 : 0;
  return d;
}

// A 12-16-1 model (last activation `head`) with `loss` and `optimizer` text.
config::JobConfig BinaryJob(const std::string& head, const std::string& loss,
                            const std::string& optimizer, const std::string& training = "") {
  const std::string text =
      "model { input_shape: [12] layers { dense { units: 16 activation: RELU } } "
      "layers { dense { units: 1 activation: " +
      head + " } } }\n" + "loss { " + loss + " }\n" + "optimizer { " + optimizer + " }\n" +
      "training { batch_size: 8 epochs: 2 seed: 5 " + training + " }\n" +
      "data { dir: \"unused\" num_classes: 2 }";
  auto config = ParseJobConfig(text, "binary job");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return config::JobConfig();
  const Status valid = ValidateJobConfig(&*config);
  EXPECT_TRUE(valid.ok()) << valid;
  return *config;
}

class RecordingCallback : public callbacks::Callback {
 public:
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    epochs.push_back(e);
    return OkStatus();
  }
  std::vector<callbacks::EpochEnd> epochs;
};

struct TrainedRun {
  std::vector<callbacks::EpochEnd> epochs;
  std::vector<float> params;
};

TrainedRun Train(const config::JobConfig& job) {
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(job, backend.get());
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  if (!trainer.ok()) return {};
  data::Dataset train = BinaryDataset(400, 1), val = BinaryDataset(100, 2);
  RecordingCallback record;
  OneRankPlanner planner(&train, 8, /*shuffle=*/true);
  const Status fit = (*trainer)->Fit(&planner, &val, {&record});
  EXPECT_TRUE(fit.ok()) << fit;
  const model::ParameterStore& params = (*trainer)->model().parameters();
  return {record.epochs, std::vector<float>(params.params(), params.params() + params.size())};
}

TEST(BinaryTrainingTest, LearnsWithEitherFromLogitsForm) {
  for (const auto& [head, loss] :
       {std::pair<std::string, std::string>{"LINEAR", "binary_crossentropy { from_logits: true }"},
        {"SIGMOID", "binary_crossentropy { }"}}) {
    const TrainedRun run = Train(BinaryJob(head, loss, "adam { }"));
    ASSERT_EQ(run.epochs.size(), 2u) << loss;
    EXPECT_LT(*run.epochs[1].Log("loss"), *run.epochs[0].Log("loss")) << loss;
    // A constant prediction of the positive share (about 1/3) scores 0.64.
    EXPECT_LT(*run.epochs[1].Log("val_loss"), 0.4) << loss;
  }
}

TEST(BinaryTrainingTest, UniformClassWeightUnderSgdEqualsAScaledRate) {
  const std::string loss = "binary_crossentropy { from_logits: true }";
  const TrainedRun weighted = Train(BinaryJob("LINEAR", loss, "learning_rate: 0.05 sgd { }",
                                              "class_weight { key: 0 value: 2 } "
                                              "class_weight { key: 1 value: 2 }"));
  const TrainedRun scaled = Train(BinaryJob("LINEAR", loss, "learning_rate: 0.1 sgd { }"));
  ASSERT_EQ(weighted.epochs.size(), 2u);
  ASSERT_EQ(scaled.epochs.size(), 2u);
  EXPECT_EQ(weighted.params, scaled.params);  // bit for bit: scaling by 2 is exact
  // The training loss is weighted (Keras logs the weighted loss); validation
  // is not.
  EXPECT_EQ(weighted.epochs[1].Log("val_loss"), scaled.epochs[1].Log("val_loss"));
  EXPECT_NEAR(*weighted.epochs[0].Log("loss"), 2 * *scaled.epochs[0].Log("loss"), 1e-9);
}

}  // namespace
}  // namespace shardtrain
