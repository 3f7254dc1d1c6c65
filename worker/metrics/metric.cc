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

// The index of the first maximum of row[0, n) (np.argmax without NaNs).
int64_t ArgMax(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t j = 1; j < n; ++j) {
    if (row[j] > row[best]) best = j;
  }
  return best;
}

// The class a target stands for: the class id, or the target vector's argmax
// (Keras's categorical metrics).
int64_t TargetClass(const loss::Targets& targets, int64_t row) {
  if (targets.is_class_ids()) return targets.class_ids[row];
  return ArgMax(targets.values + row * targets.width, targets.width);
}

// Element i of the targets flattened to (rows, units) floats: with class ids
// (one-unit outputs only) the id itself.
float TargetElement(const loss::Targets& targets, int64_t i) {
  return targets.is_class_ids() ? static_cast<float>(targets.class_ids[i]) : targets.values[i];
}

class Accuracy : public Metric {
 public:
  explicit Accuracy(const std::string& name) : Metric(name) {}
  int64_t num_sums() const override { return 0; }
  void Accumulate(const float*, const loss::Targets&, int64_t, double*) const override {}
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
  void Accumulate(const float* outputs, const loss::Targets& targets, int64_t rows,
                  double* sums) const override {
    for (int64_t r = 0; r < rows; ++r) sums[0] += Value(outputs + r * units_, targets, r);
    sums[1] += static_cast<double>(rows);
  }
  double Result(const double* sums, const Totals&) const override {
    return sums[1] > 0 ? sums[0] / sums[1] : 0.0;
  }

 protected:
  MeanOverExamples(const std::string& name, int64_t units) : Metric(name), units_(units) {}
  // The value of example `r`, given its output row.
  virtual double Value(const float* row, const loss::Targets& targets, int64_t r) const = 0;

  int64_t units_;
};

// tf.math.in_top_k on the target's class: its output is finite and fewer than
// k outputs (all finite) are strictly larger, so ties at the boundary count as
// inside.
class TopK : public MeanOverExamples {
 public:
  TopK(const std::string& name, int64_t units, int64_t k) : MeanOverExamples(name, units), k_(k) {}

 private:
  double Value(const float* row, const loss::Targets& targets, int64_t r) const override {
    const int64_t label = TargetClass(targets, r);
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

// Keras categorical_accuracy: argmax(output) == argmax(target).
class CategoricalAccuracy : public MeanOverExamples {
 public:
  CategoricalAccuracy(const std::string& name, int64_t units) : MeanOverExamples(name, units) {}

 private:
  double Value(const float* row, const loss::Targets& targets, int64_t r) const override {
    return ArgMax(row, units_) == TargetClass(targets, r) ? 1.0 : 0.0;
  }
};

// Keras binary_accuracy (threshold 0.5): the mean over the units of
// (probability > 0.5) == target, in float32.
class BinaryAccuracy : public MeanOverExamples {
 public:
  BinaryAccuracy(const std::string& name, int64_t units, bool is_logit)
      : MeanOverExamples(name, units), is_logit_(is_logit) {}

 private:
  double Value(const float* row, const loss::Targets& targets, int64_t r) const override {
    float matches = 0.0f;
    for (int64_t j = 0; j < units_; ++j) {
      const float predicted = Probability(row[j], is_logit_) > kBinaryThreshold ? 1.0f : 0.0f;
      if (predicted == TargetElement(targets, r * units_ + j)) matches += 1.0f;
    }
    return matches / static_cast<float>(units_);
  }

  bool is_logit_;
};

// Keras mean_absolute_error: the mean over the units of |target - output| in
// float32 (one unit with class ids: |label - output|).
class MeanAbsoluteError : public MeanOverExamples {
 public:
  MeanAbsoluteError(const std::string& name, int64_t units) : MeanOverExamples(name, units) {}

 private:
  double Value(const float* row, const loss::Targets& targets, int64_t r) const override {
    float sum = 0.0f;
    for (int64_t j = 0; j < units_; ++j) {
      sum += std::fabs(TargetElement(targets, r * units_ + j) - row[j]);
    }
    return sum / static_cast<float>(units_);
  }
};

// Precision or recall at Keras's 0.5 threshold over every unit of every
// example: sums = {true positives, and false positives (precision) or false
// negatives (recall)}.
class ThresholdRatio : public Metric {
 public:
  ThresholdRatio(const std::string& name, const OutputSpec& output, bool recall)
      : Metric(name), units_(output.units), is_logit_(output.is_logit), recall_(recall) {}
  int64_t num_sums() const override { return 2; }
  void Accumulate(const float* outputs, const loss::Targets& targets, int64_t rows,
                  double* sums) const override {
    for (int64_t i = 0; i < rows * units_; ++i) {
      const bool predicted = Probability(outputs[i], is_logit_) > kBinaryThreshold;
      const bool positive = TargetElement(targets, i) != 0.0f;
      if (predicted && positive) sums[0] += 1;
      if (recall_ ? (positive && !predicted) : (predicted && !positive)) sums[1] += 1;
    }
  }
  double Result(const double* sums, const Totals&) const override {
    const double denominator = sums[0] + sums[1];  // Keras's divide_no_nan
    return denominator > 0 ? sums[0] / denominator : 0.0;
  }

 private:
  int64_t units_;
  bool is_logit_;
  bool recall_;
};

// Keras AUC (ROC, interpolation) over every unit of every example (Keras's
// multi_label=False flattens them). sums[b] counts the positive values (target
// != 0), and sums[kAucThresholds + b] the negative ones, in bucket b: Keras's
// bucket of a probability p clipped to [0, 1] is max(ceil(p * 199) - 1, 0) in
// float32, and the value counts as predicted positive at thresholds 0..b.
class Auc : public Metric {
 public:
  Auc(const std::string& name, const OutputSpec& output)
      : Metric(name), units_(output.units), is_logit_(output.is_logit) {}
  int64_t num_sums() const override { return 2 * kAucThresholds; }
  void Accumulate(const float* outputs, const loss::Targets& targets, int64_t rows,
                  double* sums) const override {
    for (int64_t i = 0; i < rows * units_; ++i) {
      float p = Probability(outputs[i], is_logit_);
      p = p > 0.0f ? (p < 1.0f ? p : 1.0f) : 0.0f;  // NaN counts as 0
      const float scaled = p * static_cast<float>(kAucThresholds - 1);
      const int64_t bucket = std::max<int64_t>(static_cast<int64_t>(std::ceil(scaled)) - 1, 0);
      sums[(TargetElement(targets, i) != 0.0f ? 0 : kAucThresholds) + bucket] += 1;
    }
  }
  double Result(const double* sums, const Totals&) const override;

 private:
  int64_t units_;
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

// Which outputs and targets a metric has a meaning for.
enum class Fit {
  kAny,          // every output and label kind
  kClassIds,     // class ids only
  kVectors,      // VECTOR labels of at least 2 values (ranking their argmax)
  kElementwise,  // compares each output value with its target: one unit with
                 // class ids; any VECTOR labels unless the output is softmax logits
};

struct MetricKind {
  const char* name;
  Fit fit;
  bool binary;  // reads each output value as a probability of target != 0
  Factory create;
};

const MetricKind kMetricKinds[] = {
    {"accuracy", Fit::kAny, false,
     [](const std::string& name, const OutputSpec&) -> std::unique_ptr<Metric> {
       return std::make_unique<Accuracy>(name);
     }},
    {"sparse_top_k_categorical_accuracy", Fit::kClassIds, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<TopK>(name, out.units, out.top_k);
     }},
    {"top_k_categorical_accuracy", Fit::kVectors, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<TopK>(name, out.units, out.top_k);
     }},
    {"categorical_accuracy", Fit::kVectors, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<CategoricalAccuracy>(name, out.units);
     }},
    {"binary_accuracy", Fit::kElementwise, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<BinaryAccuracy>(name, out.units, out.is_logit);
     }},
    {"mean_absolute_error", Fit::kElementwise, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<MeanAbsoluteError>(name, out.units);
     }},
    {"mae", Fit::kElementwise, false,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<MeanAbsoluteError>(name, out.units);
     }},
    {"precision", Fit::kElementwise, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<ThresholdRatio>(name, out, /*recall=*/false);
     }},
    {"recall", Fit::kElementwise, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<ThresholdRatio>(name, out, /*recall=*/true);
     }},
    {"auc", Fit::kElementwise, true,
     [](const std::string& name, const OutputSpec& out) -> std::unique_ptr<Metric> {
       return std::make_unique<Auc>(name, out);
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

// Why an elementwise `kind` does not fit class ids with a `units`-wide output.
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

// Why `kind` has no meaning for `out` and its label kind, or "" when it has.
std::string FitProblem(const MetricKind& kind, const OutputSpec& out) {
  const std::string metric = "metrics: '" + std::string(kind.name) + "' ";
  const std::string vectors =
      "data.label is a VECTOR of " + std::to_string(out.label_width) + " values per example";
  const bool class_ids = out.label_width == 0;
  switch (kind.fit) {
    case Fit::kAny:
      return "";
    case Fit::kClassIds:
      if (class_ids) return "";
      return metric + "needs integer class ids, but " + vectors +
             "; use \"top_k_categorical_accuracy\" for one-hot labels";
    case Fit::kVectors:
      if (class_ids) {
        return metric + "needs one-hot label vectors, but the labels are integer class ids; use " +
               "\"accuracy\" or \"sparse_top_k_categorical_accuracy\"";
      }
      if (out.units >= 2) return "";
      return metric + "ranks the output's values, but " + vectors +
             "; use \"accuracy\" or \"binary_accuracy\"";
    case Fit::kElementwise:
      if (class_ids) return out.units == 1 ? "" : OneUnitProblem(kind, out.units);
      if (!out.softmax_logits) return "";
      return metric + "reads the output as probabilities, but with categorical_crossentropy on " +
             "VECTOR labels the metrics see softmax logits (from_logits, or a softmax head fused "
             "into the loss); use \"accuracy\", " +
             "\"categorical_accuracy\" or \"top_k_categorical_accuracy\"";
  }
  return "";
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

int64_t VectorCorrectCount(const float* outputs, const loss::Targets& targets, int64_t rows,
                           bool is_logit) {
  const int64_t width = targets.width;
  int64_t correct = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (width == 1) {  // Keras's BinaryAccuracy: (p > 0.5) cast to the target's dtype
      const float predicted = Probability(outputs[r], is_logit) > kBinaryThreshold ? 1.0f : 0.0f;
      if (predicted == targets.values[r]) ++correct;
    } else if (ArgMax(outputs + r * width, width) == TargetClass(targets, r)) {
      ++correct;
    }
  }
  return correct;
}

StatusOr<std::unique_ptr<Metric>> CreateMetric(const std::string& name, const OutputSpec& output) {
  const MetricKind* kind = FindKind(name);
  if (kind == nullptr) {
    return InvalidArgumentError("metrics: unknown metric '" + name +
                                "'; supported: " + SupportedNames());
  }
  const std::string problem = FitProblem(*kind, output);
  if (!problem.empty()) return InvalidArgumentError(problem);
  if (output.top_k < 1) {
    return InvalidArgumentError(
        "top_k must be positive (the k of "
        "sparse_top_k_categorical_accuracy and top_k_categorical_accuracy), got " +
        std::to_string(output.top_k));
  }
  return kind->create(name, output);
}

}  // namespace shardtrain::metrics
