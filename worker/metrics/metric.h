// Metric: one of Keras's compile(metrics=[...]) for a batch's targets
// (loss::Targets: integer class ids, or VECTOR labels of `units` values), in a
// form that sums exactly over batches and ranks. A metric keeps `num_sums()`
// doubles (counts and totals); Accumulate adds a batch's share, the trainer
// sums them over ranks (AllReduceSumHostScalars), and Result turns the summed
// values into the metric, so the value over several ranks is the value over
// all their examples. Counts are exact in double up to 2^53.
//
// Metrics, by the name they are configured and logged under (Keras's):
//   accuracy        what Keras's compile_utils.get_metric resolves it to from the
//                   shapes: on a one-unit output binary accuracy (see
//                   BinaryCorrectCount); class ids: argmax of the output == label;
//                   VECTOR labels: argmax of the output == argmax of the target
//                   (categorical accuracy, whatever the loss). From the trainer's
//                   correct count (Totals, MetricSet::CorrectCount): no sums
//   sparse_top_k_categorical_accuracy  class ids: label among the k largest
//                   outputs (k = 5 by default); ties at the k-th value count as
//                   inside, as tf.math.in_top_k does
//   top_k_categorical_accuracy  VECTOR labels: the same for the target's argmax
//   categorical_accuracy  VECTOR labels: argmax(output) == argmax(target)
//   binary_accuracy  mean over the units of (probability > 0.5) == target
//   mean_absolute_error, mae  mean over the units of |target - output|
//   precision, recall  threshold 0.5 over every unit of every example: predicted
//                   positive when the probability is > 0.5; a target != 0 is positive
//   auc             ROC AUC over every unit of every example with Keras's
//                   defaults: 200 thresholds, interpolation summation
// With class ids the last five need a one-unit output (the label is its
// target). Binary metrics read the output as a probability, or as a logit
// (sigmoid applied first) when the loss is from_logits, as Keras's
// AUC(from_logits=True) does. With a softmax cross-entropy loss the output seen
// is the logits (the softmax is fused into the loss), whose ranking (accuracy,
// top-k) is the probabilities'; metrics that read probabilities are refused
// with categorical_crossentropy.
//
// Metrics are immutable after creation; Accumulate is const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "common/status.h"
#include "worker/loss/targets.h"

namespace shardtrain::metrics {

// What every training and evaluation pass counts anyway, summed over ranks:
// the examples, and those whose argmax is the label.
struct Totals {
  int64_t examples = 0;
  int64_t correct = 0;
};

// The model output the metrics read, and the targets they compare it with.
struct OutputSpec {
  int64_t units = 0;      // values per example
  bool is_logit = false;  // sigmoid logits (a from_logits loss; one unit with class ids)
  int64_t top_k = 5;      // k of the top-k accuracies
  // The targets' width: 0 for class ids, else units (VECTOR labels).
  int64_t label_width = 0;
  // Logits of a fused softmax (categorical_crossentropy on VECTOR labels):
  // only their ranking is meaningful.
  bool softmax_logits = false;
};

class Metric {
 public:
  virtual ~Metric() = default;

  // Keras's name for it, as configured ("mae" stays "mae").
  const std::string& name() const { return name_; }

  // Doubles of state this metric sums (0 for accuracy).
  virtual int64_t num_sums() const = 0;
  // Adds `rows` examples to sums[0, num_sums()): outputs (rows, units), and
  // `targets` of the label kind the metric was created for.
  virtual void Accumulate(const float* outputs, const loss::Targets& targets, int64_t rows,
                          double* sums) const = 0;
  // The metric's value from summed `sums` (0 when it has seen nothing).
  virtual double Result(const double* sums, const Totals& totals) const = 0;

 protected:
  explicit Metric(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

// Keras's "accuracy" on a one-unit output (BinaryAccuracy, threshold 0.5): the
// examples whose prediction, 1 when the probability is > 0.5 (sigmoid of the
// output when it is a logit) and 0 otherwise, equals the label.
int64_t BinaryCorrectCount(const float* outputs, const int32_t* labels, int64_t rows,
                           bool is_logit);

// Keras's "accuracy" on VECTOR labels: the examples whose prediction equals
// the target; one unit: binary accuracy as above against the float target;
// wider: argmax(output) == argmax(target) (first maxima).
int64_t VectorCorrectCount(const float* outputs, const loss::Targets& targets, int64_t rows,
                           bool is_logit);

// The metric configured as `name` for `output`. InvalidArgument for an unknown
// name, or one that has no meaning for the output and label kind, e.g. a binary
// metric or MAE on class ids with an output wider than one unit (the message
// names the metric, the label kind and what to use instead).
StatusOr<std::unique_ptr<Metric>> CreateMetric(const std::string& name, const OutputSpec& output);

}  // namespace shardtrain::metrics
