// Tests for worker/metrics: each metric against values computed independently
// by tests/worker/metrics_reference.py (plain Python from Keras's documented
// formulas; `python3 tests/worker/metrics_reference.py` prints them), the sums
// adding over batches as over ranks, the job-config rules, and the trainer
// logging every metric (and metrics.jsonl writing them).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/worker/trainer_test_util.h"
#include "worker/callbacks/metrics_log.h"
#include "worker/metrics/metric.h"
#include "worker/metrics/metric_set.h"
#include "worker/trainer.h"

namespace shardtrain::metrics {
namespace {

// The data of metrics_reference.py.
const std::vector<float> kTopKRows = {
    0.1f,  0.5f,  0.2f, 0.2f, 0.0f, 0.3f, 0.3f, 0.3f,  0.05f, 0.05f, 0.0f, 0.1f, 0.2f, 0.3f, 0.4f,
    0.25f, 0.25f, 0.1f, 0.2f, 0.2f, 0.9f, 0.0f, 0.05f, 0.05f, 0.0f,  0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
const std::vector<int32_t> kTopKLabels = {2, 2, 0, 4, 1, 3};
const std::vector<float> kProbs = {0.1f, 0.4f,  0.35f, 0.8f,  0.65f, 0.7f,
                                   0.2f, 0.05f, 0.5f,  0.95f, 0.0f,  1.0f};
const std::vector<int32_t> kBinaryLabels = {0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0};
const std::vector<float> kLogits = {-2.0f, 0.25f, -0.5f, 1.5f, 3.0f, -1.0f, 0.0f, 0.75f};
const std::vector<int32_t> kLogitLabels = {0, 1, 1, 1, 1, 0, 1, 0};
const std::vector<float> kMaePreds = {0.25f, 0.5f, 1.5f, -0.75f, 0.125f, 0.9f};
const std::vector<int32_t> kMaeLabels = {0, 1, 1, 0, 0, 1};

// The metric's value over all of `outputs`, accumulated in two parts (a
// batch or rank boundary after `split` rows) whose sums are added.
double Value(const std::string& name, const OutputSpec& spec, const std::vector<float>& outputs,
             const std::vector<int32_t>& labels, int64_t split) {
  auto metric = CreateMetric(name, spec);
  EXPECT_TRUE(metric.ok()) << metric.status();
  if (!metric.ok()) return std::nan("");
  const int64_t rows = static_cast<int64_t>(labels.size());
  std::vector<double> first((*metric)->num_sums()), second((*metric)->num_sums());
  (*metric)->Accumulate(outputs.data(), loss::Targets::ClassIds(labels.data()), split,
                        first.data());
  (*metric)->Accumulate(outputs.data() + split * spec.units,
                        loss::Targets::ClassIds(labels.data() + split), rows - split,
                        second.data());
  for (size_t i = 0; i < first.size(); ++i) first[i] += second[i];
  return (*metric)->Result(first.data(), Totals{});
}

OutputSpec Units(int64_t units, bool is_logit = false, int64_t top_k = 5) {
  return OutputSpec{units, is_logit, top_k, /*label_width=*/0, /*softmax_logits=*/false};
}

// The output spec of VECTOR labels of `units` values.
OutputSpec VectorUnits(int64_t units, bool is_logit = false, int64_t top_k = 5,
                       bool softmax_logits = false) {
  return OutputSpec{units, is_logit, top_k, units, softmax_logits};
}

// Value() for VECTOR targets (rows, units).
double VectorValue(const std::string& name, const OutputSpec& spec,
                   const std::vector<float>& outputs, const std::vector<float>& targets,
                   int64_t split) {
  auto metric = CreateMetric(name, spec);
  EXPECT_TRUE(metric.ok()) << metric.status();
  if (!metric.ok()) return std::nan("");
  const int64_t rows = static_cast<int64_t>(targets.size()) / spec.units;
  std::vector<double> first((*metric)->num_sums()), second((*metric)->num_sums());
  (*metric)->Accumulate(outputs.data(), loss::Targets::Vectors(targets.data(), spec.units), split,
                        first.data());
  (*metric)->Accumulate(outputs.data() + split * spec.units,
                        loss::Targets::Vectors(targets.data() + split * spec.units, spec.units),
                        rows - split, second.data());
  for (size_t i = 0; i < first.size(); ++i) first[i] += second[i];
  return (*metric)->Result(first.data(), Totals{});
}

TEST(MetricTest, SparseTopKCountsTiesAtTheBoundaryAsInTopK) {
  // metrics_reference.py: k=1 0.3333333333333333, k=2 0.5, k=3 0.6666666666666666, k=5 1.0.
  const std::vector<std::pair<int64_t, double>> expected = {
      {1, 1.0 / 3}, {2, 0.5}, {3, 2.0 / 3}, {5, 1.0}};
  for (const auto& [k, value] : expected) {
    EXPECT_DOUBLE_EQ(
        Value("sparse_top_k_categorical_accuracy", Units(5, false, k), kTopKRows, kTopKLabels, 4),
        value)
        << k;
  }
  // A non-finite output makes the example a miss, as tf.math.in_top_k.
  std::vector<float> rows = kTopKRows;
  rows[5 * 5 + 1] = std::nanf("");
  EXPECT_DOUBLE_EQ(Value("sparse_top_k_categorical_accuracy", Units(5), rows, kTopKLabels, 3),
                   5.0 / 6);
}

TEST(MetricTest, MeanAbsoluteErrorUnderEitherName) {
  // metrics_reference.py: mae 0.3708333373069763 (float32 differences, as Keras).
  for (const std::string name : {"mae", "mean_absolute_error"}) {
    auto metric = CreateMetric(name, Units(1));
    ASSERT_TRUE(metric.ok()) << metric.status();
    EXPECT_EQ((*metric)->name(), name);
    EXPECT_DOUBLE_EQ(Value(name, Units(1), kMaePreds, kMaeLabels, 2), 0.3708333373069763);
  }
}

TEST(MetricTest, PrecisionAndRecallAtKerasThreshold) {
  // metrics_reference.py: precision 0.6, recall 0.5 (0.5 itself is not > 0.5).
  EXPECT_DOUBLE_EQ(Value("precision", Units(1), kProbs, kBinaryLabels, 5), 0.6);
  EXPECT_DOUBLE_EQ(Value("recall", Units(1), kProbs, kBinaryLabels, 7), 0.5);
  // From logits (sigmoid first): precision 0.75, recall 0.6.
  EXPECT_DOUBLE_EQ(Value("precision", Units(1, true), kLogits, kLogitLabels, 3), 0.75);
  EXPECT_DOUBLE_EQ(Value("recall", Units(1, true), kLogits, kLogitLabels, 3), 0.6);
  // Nothing predicted positive: 0, as Keras's divide_no_nan.
  EXPECT_EQ(Value("precision", Units(1), {0.1f, 0.2f}, {1, 0}, 1), 0.0);
}

TEST(MetricTest, AucMatchesKerasFormula) {
  // metrics_reference.py's auc(): Keras AUC() defaults (200 thresholds, ROC,
  // interpolation), predictions 0, 0.5 and 1 included: 0.6666666666666667.
  EXPECT_NEAR(Value("auc", Units(1), kProbs, kBinaryLabels, 6), 0.6666666666666667, 1e-12);
  // From logits: 0.8.
  EXPECT_NEAR(Value("auc", Units(1, true), kLogits, kLogitLabels, 5), 0.8, 1e-12);
  // The data of Keras's AUC docstring ([0, 0, 1, 1] vs [0, 0.5, 0.3, 0.9]):
  // 0.75 with 200 thresholds too.
  EXPECT_NEAR(Value("auc", Units(1), {0.0f, 0.5f, 0.3f, 0.9f}, {0, 0, 1, 1}, 2), 0.75, 1e-12);
  // One class only: recall or fp rate is 0 everywhere (divide_no_nan), area 0.
  EXPECT_EQ(Value("auc", Units(1), {0.2f, 0.7f}, {1, 1}, 1), 0.0);
}

TEST(MetricTest, BinaryAccuracyOnOneUnitOutputs) {
  // metrics_reference.py: binary_accuracy 0.5833333333333334 (7 of 12).
  EXPECT_EQ(BinaryCorrectCount(kProbs.data(), kBinaryLabels.data(), 12, false), 7);
  auto accuracy = CreateMetric("accuracy", Units(1));
  ASSERT_TRUE(accuracy.ok());
  EXPECT_DOUBLE_EQ((*accuracy)->Result(nullptr, Totals{12, 7}), 7.0 / 12);
  EXPECT_EQ((*accuracy)->num_sums(), 0);
}

TEST(MetricTest, BinaryMetricsRefuseMultiClassOutputs) {
  for (const std::string name : {"precision", "recall", "auc", "mae", "mean_absolute_error"}) {
    auto metric = CreateMetric(name, Units(10));
    ASSERT_FALSE(metric.ok()) << name;
    EXPECT_EQ(metric.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(metric.status().message().find("'" + name + "'"), std::string::npos)
        << metric.status();
    EXPECT_NE(metric.status().message().find("one-unit output"), std::string::npos)
        << metric.status();
  }
  auto unknown = CreateMetric("f1_score", Units(10));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("sparse_top_k_categorical_accuracy"),
            std::string::npos);
}

// ---- VECTOR labels (metrics_reference.py's VEC_* and MULTI_* data) ----
const std::vector<float> kVecRows = {0.1f, 0.7f, 0.2f, 0.5f,  0.3f, 0.2f,
                                     0.3f, 0.3f, 0.4f, 0.05f, 0.6f, 0.35f};
const std::vector<float> kVecTargets = {0, 1, 0, 0, 0, 1, 0.2f, 0.2f, 0.6f, 1, 0, 0};
const std::vector<float> kMultiRows = {0.9f, 0.2f, 0.6f, 0.4f, 0.55f, 0.1f, 0.3f, 0.8f, 0.7f};
const std::vector<float> kMultiTargets = {1, 0, 1, 1, 1, 0, 0, 1, 0};

TEST(VectorMetricTest, CategoricalAccuracyAndTopKUseTheTargetsArgmax) {
  // metrics_reference.py: categorical_accuracy 0.5, top_k k=1 0.5, k=2 0.5.
  EXPECT_DOUBLE_EQ(VectorValue("categorical_accuracy", VectorUnits(3), kVecRows, kVecTargets, 1),
                   0.5);
  EXPECT_DOUBLE_EQ(
      VectorValue("top_k_categorical_accuracy", VectorUnits(3, false, 1), kVecRows, kVecTargets, 2),
      0.5);
  EXPECT_DOUBLE_EQ(
      VectorValue("top_k_categorical_accuracy", VectorUnits(3, false, 2), kVecRows, kVecTargets, 3),
      0.5);
  // "accuracy" resolves to categorical accuracy: the trainer's correct count.
  EXPECT_EQ(
      VectorCorrectCount(kVecRows.data(), loss::Targets::Vectors(kVecTargets.data(), 3), 4, false),
      2);
}

TEST(VectorMetricTest, MeanAbsoluteErrorOverTheWidth) {
  // metrics_reference.py: vector mae 0.3750000074505806.
  EXPECT_NEAR(VectorValue("mae", VectorUnits(3), kVecRows, kVecTargets, 2), 0.3750000074505806,
              1e-9);
}

TEST(VectorMetricTest, MultiLabelBinaryMetricsOverEveryValue) {
  // metrics_reference.py: binary_accuracy 0.7777777910232544, precision 0.8,
  // recall 0.8, auc 0.85.
  EXPECT_DOUBLE_EQ(VectorValue("binary_accuracy", VectorUnits(3), kMultiRows, kMultiTargets, 1),
                   0.7777777910232544);
  EXPECT_DOUBLE_EQ(VectorValue("precision", VectorUnits(3), kMultiRows, kMultiTargets, 2), 0.8);
  EXPECT_DOUBLE_EQ(VectorValue("recall", VectorUnits(3), kMultiRows, kMultiTargets, 1), 0.8);
  EXPECT_NEAR(VectorValue("auc", VectorUnits(3), kMultiRows, kMultiTargets, 2), 0.85, 1e-12);
  // One value per example: "accuracy" is binary accuracy against the float target.
  const std::vector<float> probs = {0.7f, 0.2f, 0.6f}, targets = {1, 0, 0};
  EXPECT_EQ(VectorCorrectCount(probs.data(), loss::Targets::Vectors(targets.data(), 1), 3, false),
            2);
}

TEST(VectorMetricTest, MetricsWithoutMeaningForTheLabelKindAreRefused) {
  const std::pair<std::string, OutputSpec> bad[] = {
      {"sparse_top_k_categorical_accuracy", VectorUnits(3)},
      {"categorical_accuracy", Units(3)},
      {"top_k_categorical_accuracy", Units(3)},
      {"categorical_accuracy", VectorUnits(1)},
      {"mae", VectorUnits(3, false, 5, /*softmax_logits=*/true)},
      {"auc", VectorUnits(3, false, 5, /*softmax_logits=*/true)},
      {"binary_accuracy", Units(10)},
  };
  for (const auto& [name, spec] : bad) {
    auto metric = CreateMetric(name, spec);
    ASSERT_FALSE(metric.ok()) << name;
    EXPECT_EQ(metric.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(metric.status().message().find("'" + name + "'"), std::string::npos)
        << metric.status();
  }
  EXPECT_TRUE(
      CreateMetric("top_k_categorical_accuracy", VectorUnits(3, false, 5, /*softmax_logits=*/true))
          .ok());
}

// The job's label kind reaches the metrics: ValidateMetrics names it.
TEST(VectorMetricTest, ValidationNamesTheLabelKind) {
  config::JobConfig job;
  job.mutable_data()->set_num_classes(10);
  job.mutable_data()->mutable_label()->set_kind(config::LabelSpec::VECTOR);
  job.mutable_data()->mutable_label()->set_size(4);
  job.mutable_loss()->mutable_categorical_crossentropy()->set_from_logits(true);
  job.add_metrics("accuracy");
  job.add_metrics("top_k_categorical_accuracy");
  EXPECT_TRUE(ValidateMetrics(job).ok()) << ValidateMetrics(job);
  job.add_metrics("precision");
  Status status = ValidateMetrics(job);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("'precision'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("categorical_crossentropy"), std::string::npos) << status;
  job.clear_metrics();
  job.add_metrics("sparse_top_k_categorical_accuracy");
  status = ValidateMetrics(job);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("VECTOR of 4 values"), std::string::npos) << status;
  // Multi-label binary cross-entropy: precision over every value is allowed.
  job.mutable_loss()->mutable_binary_crossentropy()->set_from_logits(true);
  job.clear_metrics();
  job.add_metrics("precision");
  job.add_metrics("binary_accuracy");
  EXPECT_TRUE(ValidateMetrics(job).ok()) << ValidateMetrics(job);
}

config::JobConfig Job(const std::string& extra, int64_t num_classes = 10) {
  config::JobConfig config;
  config.mutable_data()->set_num_classes(num_classes);
  config.mutable_loss()->mutable_sparse_categorical_crossentropy()->set_from_logits(true);
  auto parsed = ParseJobConfig(extra, "metrics test");
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (parsed.ok()) config.MergeFrom(*parsed);
  return config;
}

TEST(MetricSetTest, LogNamesAreLossMetricsThenValidation) {
  EXPECT_EQ(LogNames(Job("")),
            (std::vector<std::string>{"loss", "accuracy", "val_loss", "val_accuracy"}));
  EXPECT_EQ(
      LogNames(Job("metrics: 'sparse_top_k_categorical_accuracy' metrics: 'accuracy'")),
      (std::vector<std::string>{"loss", "sparse_top_k_categorical_accuracy", "accuracy", "val_loss",
                                "val_sparse_top_k_categorical_accuracy", "val_accuracy"}));
}

TEST(MetricSetTest, SumsOfEveryMetricInOneArray) {
  config::JobConfig job = Job("metrics: 'auc' metrics: 'accuracy' metrics: 'mae'", 1);
  job.mutable_loss()->mutable_mean_squared_error();
  const auto backend = kernels::CreateCpuBackend();
  auto set = MetricSet::Create(*backend, job, 1, 6);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->num_sums(), 400 + 2);
  std::vector<double> sums(static_cast<size_t>(set->num_sums()));
  ASSERT_TRUE(set->Accumulate(*backend, kMaePreds.data(),
                              loss::Targets::ClassIds(kMaeLabels.data()), 6, sums.data())
                  .ok());
  Logs logs;
  set->AppendLogs(sums.data(), Totals{6, 3}, "val_", &logs);
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].first, "val_auc");
  EXPECT_EQ(logs[1], (std::pair<std::string, double>{"val_accuracy", 0.5}));
  EXPECT_EQ(logs[2].first, "val_mae");
  EXPECT_DOUBLE_EQ(logs[2].second, 0.3708333373069763);
}

TEST(MetricSetTest, ValidationNamesTheProblem) {
  const std::pair<std::string, std::string> bad[] = {
      {"metrics: 'auc'", "'auc' is a binary metric"},
      {"metrics: 'accuracy' metrics: 'accuracy'", "listed twice"},
      {"metrics: 'sparse_top_k_categorical_accuracy' top_k: -1", "top_k"},
      {"metrics: 'f1'", "unknown metric 'f1'"},
  };
  for (const auto& [text, message] : bad) {
    Status status = ValidateMetrics(Job(text));
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(status.message().find(message), std::string::npos) << status;
  }
  EXPECT_TRUE(ValidateMetrics(Job("metrics: 'sparse_top_k_categorical_accuracy' top_k: 3")).ok());
}

// checkpoint.monitor and filepath fields accept exactly the job's logs.
TEST(MetricSetTest, CheckpointMonitorAndFilepathTakeTheJobsLogs) {
  const std::string job = R"pb(
    model {
      input_shape: [ 4 ]
      layers { dense { units: 1 } }
    }
    loss { binary_crossentropy { from_logits: true } }
    optimizer { adam {} }
    data { dir: "unused" num_classes: 2 }
    training { batch_size: 8 epochs: 1 }
    metrics: "auc"
    metrics: "mae"
  )pb";
  auto config = ParseJobConfig(job + R"pb(checkpoint {
                                            monitor: "val_auc"
                                            filepath: "best-{epoch:02d}-{val_auc:.3f}-{mae:.2f}"
                                          })pb",
                               "job");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateJobConfig(&*config).ok());
  EXPECT_EQ(config->checkpoint().mode(), "max");  // auto: AUC grows as it improves
  config = ParseJobConfig(job + "checkpoint { monitor: 'val_mae' }", "job");
  ASSERT_TRUE(config.ok() && ValidateJobConfig(&*config).ok());
  EXPECT_EQ(config->checkpoint().mode(), "min");

  for (const std::string bad : {"checkpoint { monitor: 'val_accuracy' }",  // not in metrics
                                "checkpoint { filepath: 'ckpt-{val_precision}' }"}) {
    config = ParseJobConfig(job + bad, "job");
    ASSERT_TRUE(config.ok()) << config.status();
    const Status status = ValidateJobConfig(&*config);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(status.message().find("val_auc"), std::string::npos) << status;  // lists the logs
  }
}

// The reference definitions, written out again for the trainer's outputs.
struct BinaryReference {
  double precision, recall, accuracy, auc;
};

BinaryReference Reference(const std::vector<float>& logits, const std::vector<int32_t>& labels) {
  double tp = 0, fp = 0, fn = 0, correct = 0;
  std::vector<float> probs;
  for (size_t i = 0; i < logits.size(); ++i) {
    const float p = 1.0f / (1.0f + std::exp(-logits[i]));
    probs.push_back(p);
    const bool predicted = p > 0.5f, positive = labels[i] == 1;
    if (predicted && positive) tp += 1;
    if (predicted && !positive) fp += 1;
    if (!predicted && positive) fn += 1;
    if (predicted == positive) correct += 1;
  }
  // Keras's AUC by its definition: pred > t at each of the 200 thresholds.
  std::vector<double> thresholds = {-1e-7};
  for (int i = 1; i <= 198; ++i) thresholds.push_back(i / 199.0);
  thresholds.push_back(1 + 1e-7);
  std::vector<double> tpr, fpr;
  for (double t : thresholds) {
    double t_tp = 0, t_fp = 0, pos = 0, neg = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
      (labels[i] == 1 ? pos : neg) += 1;
      if (probs[i] > t) (labels[i] == 1 ? t_tp : t_fp) += 1;
    }
    tpr.push_back(pos > 0 ? t_tp / pos : 0);
    fpr.push_back(neg > 0 ? t_fp / neg : 0);
  }
  double auc = 0;
  for (size_t i = 0; i + 1 < thresholds.size(); ++i) {
    auc += (fpr[i] - fpr[i + 1]) * (tpr[i] + tpr[i + 1]) / 2;
  }
  const double n = static_cast<double>(logits.size());
  return {tp / (tp + fp), tp / (tp + fn), correct / n, auc};
}

class Recorder : public callbacks::Callback {
 public:
  Status OnBatchEnd(const callbacks::BatchEnd& b) override {
    last_batch = b;
    return OkStatus();
  }
  Status OnEpochEnd(const callbacks::EpochEnd& e) override {
    epochs.push_back(e);
    return OkStatus();
  }
  callbacks::BatchEnd last_batch;
  std::vector<callbacks::EpochEnd> epochs;
};

// A one-unit classifier (class 2 of SeparableDataset against the rest): every
// configured metric is logged as NAME and val_NAME, and the validation values
// are the reference definitions applied to the model's outputs.
TEST(TrainerMetricsTest, LogsEveryMetricAndValidatesAsTheDefinitions) {
  auto config = ParseJobConfig(R"pb(
                                 model {
                                   input_shape: [ 12 ]
                                   layers { dense { units: 8 activation: RELU } }
                                   layers { dense { units: 1 } }
                                 }
                                 optimizer {
                                   learning_rate: 0.01
                                   adam {}
                                 }
                                 loss { binary_crossentropy { from_logits: true } }
                                 metrics: "accuracy"
                                 metrics: "precision"
                                 metrics: "recall"
                                 metrics: "auc"
                                 metrics: "mae"
                                 training { batch_size: 16 epochs: 3 seed: 3 }
                                 data { dir: "unused" num_classes: 2 }
                               )pb",
                               "binary metrics job");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateJobConfig(&*config).ok());
  auto binary = [](data::Dataset d) {
    for (int32_t& label : d.labels) label = label == 2 ? 1 : 0;
    return d;
  };
  const data::Dataset train = binary(testing::SeparableDataset(160, 1));
  const data::Dataset val = binary(testing::SeparableDataset(90, 2));
  auto backend = kernels::CreateCpuBackend();
  auto trainer = Trainer::Create(*config, backend.get());
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  Recorder record;
  testing::OneRankPlanner planner(&train, 16, /*shuffle=*/true);
  const Status fit = (*trainer)->Fit(&planner, &val, {&record});
  ASSERT_TRUE(fit.ok()) << fit;
  ASSERT_EQ(record.epochs.size(), 3u);
  const callbacks::EpochEnd& end = record.epochs.back();
  std::vector<std::string> names;
  for (const auto& [name, value] : end.logs) names.push_back(name);
  EXPECT_EQ(names, LogNames(*config));
  EXPECT_EQ(record.last_batch.logs, Logs(end.logs.begin(), end.logs.begin() + 6));

  auto outputs = (*trainer)->Predict(val);
  ASSERT_TRUE(outputs.ok());
  const BinaryReference ref = Reference(*outputs, val.labels);
  EXPECT_DOUBLE_EQ(*end.Log("val_precision"), ref.precision);
  EXPECT_DOUBLE_EQ(*end.Log("val_recall"), ref.recall);
  EXPECT_DOUBLE_EQ(*end.Log("val_accuracy"), ref.accuracy);
  EXPECT_NEAR(*end.Log("val_auc"), ref.auc, 1e-12);
  EXPECT_GT(ref.auc, 0.9);  // it learned something, so the check is not vacuous
}

TEST(MetricsLogTest, WritesEveryLogInOrder) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("shardtrain_metrics_log_test_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto log = callbacks::MetricsLog::Open(dir.string(), /*append=*/false);
  ASSERT_TRUE(log.ok()) << log.status();
  callbacks::EpochEnd end;
  end.epoch = 2;
  end.step = 20;
  end.examples = 160;
  end.examples_per_sec = 1000;
  end.wall_seconds = 1.5;
  end.logs = {{"loss", 0.5}, {"auc", 0.75}, {"val_loss", 0.25}, {"val_auc", 0.875}};
  ASSERT_TRUE((*log)->OnEpochEnd(end).ok());
  std::ifstream in((*log)->path());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "{\"epoch\": 2, \"step\": 20, \"loss\": 0.5, \"auc\": 0.75, \"val_loss\": 0.25, "
            "\"val_auc\": 0.875, \"examples\": 160, \"examples_per_sec\": 1000.0, "
            "\"wall_seconds\": 1.500}\n");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shardtrain::metrics
