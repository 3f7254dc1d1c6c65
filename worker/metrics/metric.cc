#include "worker/metrics/metric.h"

#include <algorithm>
#include <cmath>
#include <string_view>

namespace shardtrain::metrics {
namespace {

// Keras's AUC default: 200 thresholds, evenly spaced over [0, 1] with the
// first just below 0 and the last just above 1.
constexpr int64_t kAucThresholds = 200;
// Keras's precision/recall default threshold.
constexpr float kBinaryThreshold = 0.5f;

// The probability a one-unit output stands for (float32, as Keras computes it).
float Probability(float output, bool is_logit) {
  return is_logit ? 1.0f / (1.0f + std::exp(-output)) : output;
}

class Accuracy : public Metric {
 public:
  explicit Accuracy(const std::string& name) : Metric(name) {}
  int64_t num_sums() const override { return 0; }
  void Accumulate(const float*, const int32_t*, int64_t, double*) const override {}
  double Result(const double*, const Totals& totals) const override {
    return totals.examples > 0
               ? static_cast<double>(totals.correct) / static_cast<double>(totals.examples)
               : 0.0;
  }
};

// A mean over examples: sums = {total, examples}.
class MeanOverExamples : public Metric {
 public:
  int64_t num_sums() const override { return 2; }
  void Accumulate(const float* outputs, const int32_t* labels, int64_t rows,
                  double* sums) const override {
    for (int64_t r = 0; r < rows; ++r) sums[0] += Value(outputs + r * units_, labels[r]);
    sums[1] += static_cast<double>(rows);
  }
  double Result(const double* sums, const Totals&) const override {
    return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
  }

 protected:
  MeanOverExamples(const std::string& name, int64_t units) : Metric(name), units_(units) {}
  // The example's value, given its output row.
  virtual double Value(const float* row, int32_t label) const = 0;

  int64_t units_;
};

// tf.math.in_top_k: the label's output is finite and fewer than k outputs
// (all finite) are strictly larger, so ties at the boundary count as inside.
class SparseTopK : public MeanOverExamples {
 public:
  SparseTopK(const std::string& name, int64_t units, int64_t k)
      : MeanOverExamples(name, units), k_(k) {}

 private:
  double Value(const float* row, int32_t label) const override {
    if (label < 0 || label >= units_) return 0.0;
    const float target = row[label];
    int64_t larger = 0;
    for (int64_t j = 0; j < units_; ++j) {
      if (!std::isfinite(row[j])) return 0.0;
      if (row[j] > target) ++larger;
    }
    return larger < k_ ? 1.0 : 0.0;
  }

  int64_t k_;
};

// Keras mean_absolute_error on a one-unit output: |label - output| in float32.
class MeanAbsoluteError : public MeanOverExamples {
 public:
  MeanAbsoluteError(const std::string& name, int64_t units) : MeanOverExamples(name, units) {}

 private:
  double Value(const float* row, int32_t label) const override {
    return std::fabs(static_cast<float>(label) - row[0]);
  }
};

// Precision or recall at Keras's 0.5 threshold: sums = {true positives, and
// false positives (precision) or false negatives (recall)}.
class ThresholdRatio : public Metric {
 public:
  ThresholdRatio(const std::string& name, bool is_logit, bool recall)
      : Metric(name), is_logit_(is_logit), recall_(recall) {}
  int64_t num_sums() const override { return 2; }
  void Accumulate(const float* outputs, const int32_t* labels, int64_t rows,
                  double* sums) const override {
    for (int64_t r = 0; r < rows; ++r) {
      const bool predicted = Probability(outputs[r], is_logit_) > kBinaryThreshold;
      const bool positive = labels[r] != 0;
      if (predicted && positive) sums[0] += 1;
      if (recall_ ? (positive && !predicted) : (predicted && !positive)) sums[1] += 1;
    }
  }
  double Result(const double* sums, const Totals&) const override {
    const double denominator = sums[0] + sums[1];  // Keras's divide_no_nan
    return denominator > 0 ? sums[0] / denominator : 0.0;
  }

 private:
  bool is_logit_;
  bool recall_;
};

// Keras AUC (ROC, interpolation). sums[b] counts the positive examples, and
// sums[kAucThresholds + b] the negative ones, in bucket b: Keras's bucket of a
// probability p clipped to [0, 1] is max(ceil(p * 199) - 1, 0) in float32, and
// the example counts as predicted positive at thresholds 0..b.
class Auc : public Metric {
 public:
  Auc(const std::string& name, bool is_logit) : Metric(name), is_logit_(is_logit) {}
  int64_t num_sums() const override { return 2 * kAucThresholds; }
  void Accumulate(const float* outputs, const int32_t* labels, int64_t rows,
                  double* sums) const override {
    for (int64_t r = 0; r < rows; ++r) {
      float p = Probability(outputs[r], is_logit_);
      p = p > 0.0f ? (p < 1.0f ? p : 1.0f) : 0.0f;  // NaN counts as 0
      const float scaled = p * static_cast<float>(kAucThresholds - 1);
      const int64_t bucket = std::max<int64_t>(static_cast<int64_t>(std::ceil(scaled)) - 1, 0);
      sums[(labels[r] != 0 ? 0 : kAucThresholds) + bucket] += 1;
    }
  }
  double Result(const double* sums, const Totals&) const override;

 private:
  bool is_logit_;
};

// Keras's AUC.result for ROC: recall = tp / (tp + fn) and fp_rate = fp / (fp +
// tn) at each threshold, then sum (x[i] - x[i+1]) * (y[i] + y[i+1]) / 2.
double Auc::Result(const double* sums, const Totals&) const {
  double positives = 0, negatives = 0;
  for (int64_t b = 0; b < kAucThresholds; ++b) {
    positives += sums[b];
    negatives += sums[kAucThresholds + b];
  }
  // Walks the thresholds from the highest down: tp and fp grow as buckets join.
  double tp = 0, fp = 0, area = 0;
  double prev_recall = 0, prev_fp_rate = 0;  // at threshold i + 1
  for (int64_t i = kAucThresholds - 1; i >= 0; --i) {
    if (i < kAucThresholds - 1) {  // the last threshold (1 + epsilon) admits nothing
      tp += sums[i];
      fp += sums[kAucThresholds + i];
    }
    const double recall = positives > 0 ? tp / positives : 0.0;
    const double fp_rate = negatives > 0 ? fp / negatives : 0.0;
    if (i < kAucThresholds - 1) area += (fp_rate - prev_fp_rate) * (recall + prev_recall) / 2;
    prev_recall = recall;
    prev_fp_rate = fp_rate;
  }
  return area;
}

using Factory = std::unique_ptr<Metric> (*)(const std::string& name, const OutputSpec& output);

struct MetricKind {
  const char* name;
  bool one_unit;  // needs a one-unit output
  bool binary;    // reads that output as a probability of label != 0
  Factory create;
};

const MetricKind kMetricKinds[] = {
    {"accuracy", false, false,
     [](const std::string& name, const OutputSpec&) -> std::unique_ptr<Metric> {
       return std::make_unique<Accuracy>(name);
     }},
    {"sparse_top_k_categorical_accuracy", false, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<SparseTopK>(name, out.units, out.top_k);
     }},
    {"mean_absolute_error", true, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<MeanAbsoluteError>(name, out.units);
     }},
    {"mae", true, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<MeanAbsoluteError>(name, out.units);
     }},
    {"precision", true, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<ThresholdRatio>(name, out.is_logit, /*recall=*/false);
     }},
    {"recall", true, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<ThresholdRatio>(name, out.is_logit, /*recall=*/true);
     }},
    {"auc", true, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<Auc>(name, out.is_logit);
     }},
};

const MetricKind* FindKind(std::string_view name) {
  for (const MetricKind& kind : kMetricKinds) {
    if (name == kind.name) return &kind;
  }
  return nullptr;
}

std::string SupportedNames() {
  std::string names;
  for (const MetricKind& kind : kMetricKinds) {
    names += (names.empty() ? "" : ", ") + std::string(kind.name);
  }
  return names;
}

// Why `kind` does not fit a `units`-wide output.
std::string OneUnitProblem(const MetricKind& kind, int64_t units) {
  const std::string what =
      kind.binary ? "is a binary metric: it needs a one-unit output (sigmoid, or linear with a "
                    "from_logits loss) and labels 0/1"
                  : "compares the label's value with a one-unit output";
  return "metrics: '" + std::string(kind.name) + "' " + what + ", but the model outputs " +
         std::to_string(units) +
         " values per example (data.num_classes); for class ids use \"accuracy\" or "
         "\"sparse_top_k_categorical_accuracy\", or end the model in one unit";
}

}  // namespace

int64_t BinaryCorrectCount(const float* outputs, const int32_t* labels, int64_t rows,
                           bool is_logit) {
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t predicted = Probability(outputs[r], is_logit) > kBinaryThreshold ? 1 : 0;
    if (predicted == labels[r]) ++correct;
  }
  return correct;
}

StatusOr<std::unique_ptr<Metric>> CreateMetric(const std::string& name, const OutputSpec& output) {
  const MetricKind* kind = FindKind(name);
  if (kind == nullptr) {
    return InvalidArgumentError("metrics: unknown metric '" + name +
                                "'; supported: " + SupportedNames());
  }
  if (kind->one_unit && output.units != 1) {
    return InvalidArgumentError(OneUnitProblem(*kind, output.units));
  }
  if (output.top_k < 1) {
    return InvalidArgumentError(
        "top_k must be positive (the k of "
        "sparse_top_k_categorical_accuracy), got " +
        std::to_string(output.top_k));
  }
  return kind->create(name, output);
}

}  // namespace shardtrain::metrics
