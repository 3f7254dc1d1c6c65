// Loss: which losses fit the data's integer class-id labels (categorical
// cross-entropy never, MSE only for a one-unit output, binary cross-entropy for
// two classes and one unit, with errors naming the loss, the labels' kind and
// the fix), and the values each computes, with and without class weights.
// Binary cross-entropy and class-weight references: tests/worker/loss_reference.py
// (Keras 3's formulas in plain Python, double precision on float32 inputs).
#include "worker/loss/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shardtrain::loss {
namespace {

// The backend the losses of these tests allocate on (host memory).
kernels::KernelBackend& CpuBackend() {
  static const std::unique_ptr<kernels::KernelBackend> backend = kernels::CreateCpuBackend();
  return *backend;
}

config::LossConfig Sparse(bool from_logits) {
  config::LossConfig config;
  config.mutable_sparse_categorical_crossentropy()->set_from_logits(from_logits);
  return config;
}

config::LossConfig Categorical(bool from_logits) {
  config::LossConfig config;
  config.mutable_categorical_crossentropy()->set_from_logits(from_logits);
  return config;
}

config::LossConfig MeanSquaredError() {
  config::LossConfig config;
  config.mutable_mean_squared_error();
  return config;
}

config::LossConfig Binary(bool from_logits, float label_smoothing = 0.0f) {
  config::LossConfig config;
  config.mutable_binary_crossentropy()->set_from_logits(from_logits);
  config.mutable_binary_crossentropy()->set_label_smoothing(label_smoothing);
  return config;
}

// A job with `loss` over `num_classes` classes and optional class weights.
config::JobConfig Job(const config::LossConfig& loss, int64_t num_classes,
                      const std::map<int64_t, float>& class_weight = {}) {
  config::JobConfig job;
  *job.mutable_loss() = loss;
  job.mutable_data()->set_num_classes(num_classes);
  for (const auto& [id, weight] : class_weight) {
    (*job.mutable_training()->mutable_class_weight())[id] = weight;
  }
  return job;
}

// Loss::Create for a model whose output width is what the loss needs.
StatusOr<Loss> Create(const config::LossConfig& loss, kernels::Activation last, int64_t num_classes,
                      int64_t max_batch) {
  return Loss::Create(CpuBackend(), Job(loss, num_classes), {last}, OutputUnits(loss, num_classes),
                      max_batch);
}

void ExpectNear(const std::vector<float>& actual, const std::vector<double>& expected,
                double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
  }
}

void ExpectInvalidArgument(const Status& status, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status;
  for (const std::string& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << "'" << needle << "' in " << status;
  }
}

TEST(LossLabelsTest, CategoricalCrossentropyOnClassIdsIsRefused) {
  ExpectInvalidArgument(CheckLossAcceptsClassIds(Categorical(true), 10),
                        {"categorical_crossentropy needs one-hot", "labels are integer class ids",
                         "sparse_categorical_crossentropy { from_logits: true }"});
  // The suggestion keeps the user's from_logits.
  ExpectInvalidArgument(CheckLossAcceptsClassIds(Categorical(false), 10),
                        {"sparse_categorical_crossentropy { from_logits: false }"});
  // Loss::Create, which every trainer calls, refuses it too.
  ExpectInvalidArgument(Create(Categorical(true), kernels::Activation::kLinear, 10, 4).status(),
                        {"categorical_crossentropy needs one-hot", "class ids"});
}

TEST(LossLabelsTest, MeanSquaredErrorNeedsOneOutputUnitForClassIds) {
  ExpectInvalidArgument(CheckLossAcceptsClassIds(MeanSquaredError(), 10),
                        {"mean_squared_error needs labels shaped like the model's output",
                         "10 values per example", "class ids", "sparse_categorical_crossentropy"});
  ExpectInvalidArgument(Create(MeanSquaredError(), kernels::Activation::kLinear, 3, 4).status(),
                        {"mean_squared_error", "3 values per example"});
  EXPECT_TRUE(CheckLossAcceptsClassIds(MeanSquaredError(), 1).ok());
}

TEST(LossLabelsTest, SparseCrossentropyAcceptsClassIds) {
  EXPECT_TRUE(CheckLossAcceptsClassIds(Sparse(true), 10).ok());
  EXPECT_TRUE(CheckLossAcceptsClassIds(Sparse(false), 1).ok());
}

TEST(LossTest, LossTakesLogitsReadsEveryLossesFromLogits) {
  EXPECT_TRUE(LossTakesLogits(Sparse(true)));
  EXPECT_FALSE(LossTakesLogits(Sparse(false)));
  EXPECT_TRUE(LossTakesLogits(Categorical(true)));
  EXPECT_TRUE(LossTakesLogits(Binary(true)));
  EXPECT_FALSE(LossTakesLogits(Binary(false)));
  EXPECT_FALSE(LossTakesLogits(MeanSquaredError()));
  EXPECT_FALSE(LossTakesLogits(config::LossConfig()));
}

TEST(LossTest, UnsetLossIsInvalidArgument) {
  ExpectInvalidArgument(Create(config::LossConfig(), kernels::Activation::kLinear, 3, 4).status(),
                        {"loss is not set"});
}

TEST(LossTest, SparseCrossentropyFromLogits) {
  auto backend = kernels::CreateCpuBackend();
  auto loss = Create(Sparse(true), kernels::Activation::kLinear, 3, 2);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ(loss->name(), "sparse_categorical_crossentropy");
  const std::vector<float> logits = {0, 0, 0, 0, std::log(2.0f), 0};
  const std::vector<int32_t> labels = {2, 1};
  std::vector<float> grad(6);
  const double sum =
      loss->Compute(*backend, logits.data(), Targets::ClassIds(labels.data()), 2, grad.data(), 2.0)
          .value();
  EXPECT_NEAR(sum, std::log(3.0) + std::log(2.0), 1e-6);  // -log(1/3) - log(2/4)
  EXPECT_NEAR(grad[2], (1.0 / 3.0 - 1.0) / 2.0, 1e-6);
  EXPECT_NEAR(grad[4], (0.5 - 1.0) / 2.0, 1e-6);
}

// As Keras computes MSE for an output of shape (batch, 1) and labels of shape
// (batch,): the target is the label's value (0 here), not a one-hot vector.
TEST(LossTest, MeanSquaredErrorTargetIsTheLabelValue) {
  auto backend = kernels::CreateCpuBackend();
  auto loss = Create(MeanSquaredError(), kernels::Activation::kLinear, 1, 2);
  ASSERT_TRUE(loss.ok()) << loss.status();
  EXPECT_EQ(loss->name(), "mean_squared_error");
  EXPECT_FALSE(loss->fuses_final_softmax());
  const std::vector<float> output = {0.25f, -0.5f};
  const std::vector<int32_t> labels = {0, 0};
  std::vector<float> grad(2);
  const double sum =
      loss->Compute(*backend, output.data(), Targets::ClassIds(labels.data()), 2, grad.data(), 2.0)
          .value();
  EXPECT_DOUBLE_EQ(sum, 0.0625 + 0.25);
  EXPECT_EQ(grad, (std::vector<float>{0.25f, -0.5f}));  // 2 (output - label) / 2
}

TEST(LossLabelsTest, BinaryCrossentropyNeedsTwoClassesAndOneUnit) {
  EXPECT_TRUE(CheckLossAcceptsClassIds(Binary(true), 2).ok());
  EXPECT_EQ(OutputUnits(Binary(false), 2), 1);
  EXPECT_EQ(OutputUnits(Sparse(true), 2), 2);
  ExpectInvalidArgument(CheckLossAcceptsClassIds(Binary(true), 10),
                        {"binary_crossentropy needs labels 0 and 1", "data.num_classes is 10",
                         "sparse_categorical_crossentropy { from_logits: true }"});
  // Two output units for two classes: the loss wants the one unit Keras uses.
  ExpectInvalidArgument(
      Loss::Create(CpuBackend(), Job(Binary(true), 2), {kernels::Activation::kLinear}, 2, 4)
          .status(),
      {"the model's output has 2 units but data.num_classes is 2",
       "make the last dense layer's units 1"});
  // Other losses keep the num_classes message.
  ExpectInvalidArgument(
      Loss::Create(CpuBackend(), Job(Sparse(true), 4), {kernels::Activation::kLinear}, 3, 4)
          .status(),
      {"3 units but data.num_classes is 4", "units equal num_classes"});
}

TEST(LossLabelsTest, BinaryCrossentropyHeadMatchesFromLogits) {
  ExpectInvalidArgument(
      Create(Binary(false), kernels::Activation::kLinear, 2, 4).status(),
      {"loss.binary_crossentropy.from_logits is false", "must use activation: SIGMOID"});
  ExpectInvalidArgument(Create(Binary(true), kernels::Activation::kSigmoid, 2, 4).status(),
                        {"loss.binary_crossentropy.from_logits is true", "applies sigmoid",
                         "from_logits: false with SIGMOID"});
  // The sparse loss still names softmax.
  ExpectInvalidArgument(Create(Sparse(false), kernels::Activation::kSigmoid, 3, 4).status(),
                        {"must use activation: SOFTMAX"});
}

// Runs `loss` on one-unit `output` (grad divisor = the row count) and returns
// the loss sum, writing the gradient to `grad`.
double RunBinary(const config::LossConfig& config, kernels::Activation last,
                 const std::vector<float>& output, const std::vector<int32_t>& labels,
                 std::vector<float>* grad) {
  auto backend = kernels::CreateCpuBackend();
  const int64_t rows = static_cast<int64_t>(output.size());
  auto loss = Create(config, last, 2, rows);
  EXPECT_TRUE(loss.ok()) << loss.status();
  if (!loss.ok()) return 0;
  EXPECT_EQ(loss->name(), "binary_crossentropy");
  EXPECT_FALSE(loss->fuses_final_softmax());
  grad->assign(output.size(), -1.0f);
  return loss
      ->Compute(*backend, output.data(), Targets::ClassIds(labels.data()), rows, grad->data(),
                static_cast<double>(rows))
      .value();
}

TEST(LossTest, BinaryCrossentropyFromLogits) {
  std::vector<float> grad;
  const double sum = RunBinary(Binary(true), kernels::Activation::kLinear,
                               {-20, -2, -0.5f, 0, 0.5f, 3, 20}, {0, 1, 0, 1, 1, 0, 1}, &grad);
  EXPECT_NEAR(sum / 7, 0.973830931, 1e-6);
  ExpectNear(grad,
             {2.94450517e-10, -0.125828154, 0.0539343813, -0.0714285714, -0.0539343813, 0.136082018,
              -2.94450527e-10},
             1e-7);
  // Keras label_smoothing: targets y (1 - s) + s / 2.
  const double smoothed =
      RunBinary(Binary(true, 0.2f), kernels::Activation::kLinear, {-2, 0.5f, 3}, {1, 1, 0}, &grad);
  EXPECT_NEAR(smoothed, 1.92692801 + 0.524076984 + 2.74858735, 1e-5);
  ExpectNear(grad, {-0.260265693, -0.0925135563, 0.284191376}, 1e-6);
}

// From a sigmoid's probabilities, clipped to [1e-7, 1 - 1e-7] as Keras does:
// a saturated probability costs 15.94 (-log(1.19e-7)) and passes no gradient.
TEST(LossTest, BinaryCrossentropyFromProbabilities) {
  std::vector<float> grad;
  const double sum = RunBinary(Binary(false), kernels::Activation::kSigmoid,
                               {1e-9f, 0.1f, 0.5f, 0.9f, 1.0f, 0.999f}, {0, 1, 0, 1, 0, 1}, &grad);
  EXPECT_NEAR(sum, 6 * 3.17407976, 2e-5);
  ExpectNear(grad, {0, -1.66666664, 0.333333333, -0.18518519, 0, -0.166833498}, 1e-6);
  const double smoothed =
      RunBinary(Binary(false, 0.2f), kernels::Activation::kSigmoid, {0.1f, 0.9f}, {0, 1}, &grad);
  EXPECT_NEAR(smoothed, 2 * 0.325082973, 1e-6);
  ExpectNear(grad, {0, 0}, 1e-6);  // the smoothed target equals the probability
}

// Keras fit(class_weight=...): each example's loss and gradient times its
// class's weight (unlisted classes 1), divided by the example count; the
// evaluation loss (no gradient) is unweighted.
TEST(LossTest, ClassWeightsScaleTrainingLossAndGradient) {
  auto backend = kernels::CreateCpuBackend();
  auto loss = Loss::Create(CpuBackend(), Job(Sparse(true), 3, {{0, 2.0f}, {2, 0.5f}}),
                           {kernels::Activation::kLinear}, 3, 3);
  ASSERT_TRUE(loss.ok()) << loss.status();
  const std::vector<float> logits = {1, 2, 0.5f, 0, 0, 0, -1, 3, 2};
  const std::vector<int32_t> labels = {0, 1, 2};
  std::vector<float> grad(9);
  const double weighted =
      loss->Compute(*backend, logits.data(), Targets::ClassIds(labels.data()), 3, grad.data(), 3.0)
          .value();
  EXPECT_NEAR(weighted, 4.69063118, 1e-5);
  EXPECT_NEAR(weighted / 3, 1.56354373, 1e-5);  // not / (2 + 1 + 0.5)
  ExpectNear(grad,
             {-0.512517402, 0.419021146, 0.0934962554, 0.111111111, -0.222222222, 0.111111111,
              0.00220214783, 0.120233197, -0.122435345},
             1e-6);
  auto unweighted = Create(Sparse(true), kernels::Activation::kLinear, 3, 3);
  ASSERT_TRUE(unweighted.ok());
  const double expected_eval =
      unweighted
          ->Compute(*backend, logits.data(), Targets::ClassIds(labels.data()), 3, nullptr, 1.0)
          .value();
  EXPECT_EQ(
      loss->Compute(*backend, logits.data(), Targets::ClassIds(labels.data()), 3, nullptr, 1.0)
          .value(),
      expected_eval);

  auto binary = Loss::Create(CpuBackend(), Job(Binary(true), 2, {{1, 3.0f}}),
                             {kernels::Activation::kLinear}, 1, 2);
  ASSERT_TRUE(binary.ok()) << binary.status();
  const std::vector<float> output = {0.5f, -1};
  const std::vector<int32_t> binary_labels = {1, 0};
  std::vector<float> binary_grad(2);
  EXPECT_NEAR(binary
                  ->Compute(*backend, output.data(), Targets::ClassIds(binary_labels.data()), 2,
                            binary_grad.data(), 2.0)
                  .value(),
              1.73549264, 1e-6);
  ExpectNear(binary_grad, {-0.566311003, 0.134470711}, 1e-7);
  EXPECT_NEAR(binary
                  ->Compute(*backend, output.data(), Targets::ClassIds(binary_labels.data()), 2,
                            nullptr, 1.0)
                  .value(),
              0.787338672, 1e-6);
}

TEST(LossConfigTest, ClassWeightsAndSmoothingAreChecked) {
  const std::pair<config::JobConfig, const char*> cases[] = {
      {Job(Sparse(true), 3, {{3, 1.0f}}),
       "training.class_weight has class id 3, outside [0, "
       "data.num_classes = 3)"},
      {Job(Sparse(true), 3, {{-1, 1.0f}}), "class id -1"},
      {Job(Sparse(true), 3, {{1, -0.5f}}), "training.class_weight of class 1 is -0.5"},
      {Job(Sparse(true), 3, {{1, std::nanf("")}}), "weights must be finite and >= 0"},
      {Job(Sparse(true), 3, {{2, INFINITY}}), "training.class_weight of class 2"},
      {Job(Binary(true, 1.5f), 2), "loss.binary_crossentropy.label_smoothing must be in [0, 1]"},
      {Job(Binary(true), 3), "binary_crossentropy needs labels 0 and 1"},
  };
  for (const auto& [job, needle] : cases) {
    ExpectInvalidArgument(CheckLossConfig(job), {needle});
    // Loss::Create, which the trainer calls, refuses the same.
    ExpectInvalidArgument(Loss::Create(CpuBackend(), job, {kernels::Activation::kLinear},
                                       OutputUnits(job.loss(), 3), 4)
                              .status(),
                          {needle});
  }
  EXPECT_TRUE(CheckLossConfig(Job(Sparse(true), 3, {{0, 0.0f}, {2, 4.0f}})).ok());
  EXPECT_TRUE(CheckLossConfig(Job(Binary(false, 1.0f), 2)).ok());
}

// ---- VECTOR labels: loss::Targets::Vectors ----

config::JobConfig VectorJob(const config::LossConfig& loss, int64_t size,
                            const std::map<int64_t, float>& class_weight = {}) {
  config::JobConfig job = Job(loss, 10, class_weight);
  job.mutable_data()->mutable_label()->set_kind(config::LabelSpec::VECTOR);
  job.mutable_data()->mutable_label()->set_size(size);
  return job;
}

// Runs the loss of `job` on (rows, width) `output` and `targets` with the grad
// divisor the row count; returns the loss sum and writes the gradient.
double RunVectors(const config::JobConfig& job, kernels::Activation last,
                  const std::vector<float>& output, const std::vector<float>& targets,
                  std::vector<float>* grad) {
  auto backend = kernels::CreateCpuBackend();
  const int64_t width = job.data().label().size();
  const int64_t rows = static_cast<int64_t>(output.size()) / width;
  auto loss = Loss::Create(CpuBackend(), job, {last}, width, rows);
  EXPECT_TRUE(loss.ok()) << loss.status();
  if (!loss.ok()) return 0;
  grad->assign(output.size(), -1.0f);
  return loss
      ->Compute(*backend, output.data(), Targets::Vectors(targets.data(), width), rows,
                grad->data(), static_cast<double>(rows))
      .value();
}

const std::vector<float> kCceLogits = {1, 2, 0.5f, 0, -1, 3, 0.5f, 0.5f, -1};
const std::vector<float> kCceTargets = {0, 1, 0, 0, 0, 1, 0.2f, 0.3f, 0.5f};

// loss_reference.py "categorical_crossentropy, one-hot and soft targets": the
// same from a linear head (from_logits) and from a softmax head (fused).
TEST(VectorLossTest, CategoricalCrossentropyOneHotAndSoftTargets) {
  const std::vector<double> grads = {0.0770746325, -0.12382276,   0.0467481277,
                                     0.0155375409, 0.00571594185, -0.0212534827,
                                     0.0832720738, 0.0499387375,  -0.133210811};
  for (bool from_logits : {true, false}) {
    std::vector<float> grad;
    const auto last = from_logits ? kernels::Activation::kLinear : kernels::Activation::kSoftmax;
    EXPECT_NEAR(
        RunVectors(VectorJob(Categorical(from_logits), 3), last, kCceLogits, kCceTargets, &grad),
        2.07916888, 1e-5);
    ExpectNear(grad, grads, 1e-6);
  }
  auto fused = Loss::Create(CpuBackend(), VectorJob(Categorical(false), 3),
                            {kernels::Activation::kSoftmax}, 3, 3);
  ASSERT_TRUE(fused.ok()) << fused.status();
  EXPECT_TRUE(fused->fuses_final_softmax());
  EXPECT_EQ(fused->name(), "categorical_crossentropy");
}

TEST(VectorLossTest, CategoricalCrossentropyLabelSmoothing) {
  config::LossConfig config = Categorical(true);
  config.mutable_categorical_crossentropy()->set_label_smoothing(0.1f);
  std::vector<float> grad;
  EXPECT_NEAR(RunVectors(VectorJob(config, 3), kernels::Activation::kLinear, kCceLogits,
                         kCceTargets, &grad),
              2.37083555, 1e-5);
  ExpectNear(grad,
             {0.0659635214, -0.101600538, 0.0356370166, 0.00442642975, -0.00539516926,
              0.000968739514, 0.0788276292, 0.0488276265, -0.127655256},
             1e-6);
}

// Keras's class_weight_to_sample_weights: the class of a target vector is its argmax.
TEST(VectorLossTest, CategoricalCrossentropyClassWeightsByArgmax) {
  std::vector<float> grad;
  EXPECT_NEAR(RunVectors(VectorJob(Categorical(true), 3, {{1, 2.0f}, {2, 0.5f}}),
                         kernels::Activation::kLinear, kCceLogits, kCceTargets, &grad),
              1.73613762, 1e-5);
  ExpectNear(grad,
             {0.154149265, -0.247645521, 0.0934962554, 0.00776877043, 0.00285797092, -0.0106267414,
              0.0416360369, 0.0249693687, -0.0666054056},
             1e-6);
}

TEST(VectorLossTest, MeanSquaredErrorIsTheMeanOverTheWidth) {
  std::vector<float> grad;
  EXPECT_NEAR(RunVectors(VectorJob(MeanSquaredError(), 3), kernels::Activation::kLinear,
                         {0.5f, -1, 2, 0, 0, 0}, {1, 0, 2, 0.5f, 0.5f, -1}, &grad),
              0.416666667 + 0.5, 1e-6);
  ExpectNear(grad, {-0.166666667, -0.333333333, 0, -0.166666667, -0.166666667, 0.333333333}, 1e-7);
}

TEST(VectorLossTest, MultiLabelBinaryCrossentropy) {
  const std::vector<float> logits = {-1, 0.5f, 2, 3, -2, 0};
  const std::vector<float> targets = {0, 1, 1, 1, 0, 0.5f};
  std::vector<float> grad;
  EXPECT_NEAR(
      RunVectors(VectorJob(Binary(true), 3), kernels::Activation::kLinear, logits, targets, &grad),
      0.304755561 + 0.289554181, 1e-6);
  ExpectNear(grad, {0.0448235702, -0.0629234448, -0.0198671537, -0.0079043122, 0.0198671537, 0},
             1e-7);
  EXPECT_NEAR(RunVectors(VectorJob(Binary(true, 0.2f), 3), kernels::Activation::kLinear, logits,
                         targets, &grad),
              0.421422228 + 0.456220848, 1e-6);
  ExpectNear(grad, {0.0281569036, -0.0462567781, -0.003200487, 0.00876235447, 0.003200487, 0},
             1e-7);
  // From a sigmoid's probabilities, clipped as Keras does (1.0 costs 15.94 and no gradient).
  EXPECT_NEAR(RunVectors(VectorJob(Binary(false), 2), kernels::Activation::kSigmoid,
                         {0.2f, 0.9f, 0.6f, 1.0f}, {0, 1, 1, 0}, &grad),
              0.164252049 + 8.22660537, 2e-5);
  ExpectNear(grad, {0.312500001, -0.277777785, -0.41666665, 0}, 1e-6);
}

TEST(VectorLossConfigTest, LabelKindAndWidthAreChecked) {
  config::LossConfig smoothing = Categorical(true);
  smoothing.mutable_categorical_crossentropy()->set_label_smoothing(-0.5f);
  const std::pair<config::JobConfig, std::vector<std::string>> cases[] = {
      {VectorJob(Sparse(true), 3),
       {"sparse_categorical_crossentropy needs integer class ids", "VECTOR of 3 values",
        "categorical_crossentropy { from_logits: true }"}},
      {VectorJob(Categorical(true), 1), {"categorical_crossentropy needs at least 2 values"}},
      {VectorJob(Categorical(true), 0), {"data.label.size must be positive"}},
      {VectorJob(smoothing, 3),
       {"loss.categorical_crossentropy.label_smoothing must be in [0, 1]"}},
      {VectorJob(MeanSquaredError(), 3, {{0, 2.0f}}),
       {"training.class_weight needs a class per example", "VECTOR labels of 3 values"}},
      {VectorJob(Binary(true), 3, {{0, 2.0f}}), {"training.class_weight needs a class"}},
      {VectorJob(Categorical(true), 3, {{3, 2.0f}}),
       {"class id 3, outside [0, data.label.size = 3)"}},
      {VectorJob(Binary(true), 1, {{2, 2.0f}}), {"class id 2, outside [0, 2)"}},
  };
  for (const auto& [job, needles] : cases) {
    ExpectInvalidArgument(CheckLossConfig(job), needles);
    ExpectInvalidArgument(
        Loss::Create(CpuBackend(), job, {kernels::Activation::kLinear}, 3, 4).status(), needles);
  }
  EXPECT_TRUE(CheckLossConfig(VectorJob(Categorical(true), 3, {{0, 2.0f}})).ok());
  EXPECT_TRUE(CheckLossConfig(VectorJob(Binary(true), 1, {{1, 2.0f}})).ok());
  EXPECT_TRUE(CheckLossConfig(VectorJob(MeanSquaredError(), 1)).ok());
  EXPECT_EQ(OutputUnits(Binary(true), VectorJob(Binary(true), 5).data()), 5);
  // The model's output width must be the label's size.
  ExpectInvalidArgument(
      CheckLossAcceptsTargets(Categorical(true), VectorJob(Categorical(true), 3).data(), 4),
      {"the model's output has 4 units", "VECTOR of 3 values", "units 3"});
  ExpectInvalidArgument(Loss::Create(CpuBackend(), VectorJob(MeanSquaredError(), 3),
                                     {kernels::Activation::kLinear}, 10, 4)
                            .status(),
                        {"the model's output has 10 units"});
}

// Keras rounds a one-value target to its class (half to even).
TEST(VectorLossTest, OneValueBinaryClassWeightsByRoundedTarget) {
  std::vector<float> grad;
  const double sum = RunVectors(VectorJob(Binary(true), 1, {{1, 3.0f}}),
                                kernels::Activation::kLinear, {0.5f, -1}, {1, 0}, &grad);
  EXPECT_NEAR(sum, 1.73549264, 1e-6);  // as the class-id case above
  ExpectNear(grad, {-0.566311003, 0.134470711}, 1e-7);
}

}  // namespace
}  // namespace shardtrain::loss
