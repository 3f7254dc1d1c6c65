// Metric: one of Keras's compile(metrics=[...]) for integer class-id labels,
// in a form that sums exactly over batches and ranks. A metric keeps
// `num_sums()` doubles (counts and totals); Accumulate adds a batch's share,
// the trainer sums them over ranks (AllReduceSumHostScalars), and Result turns
// the summed values into the metric, so the value over several ranks is the
// value over all their examples. Counts are exact in double up to 2^53.
//
// Metrics, by the name they are configured and logged under (Keras's):
//   accuracy                           argmax of the output == label; on a one-unit
//                                      output Keras's binary accuracy instead (see
//                                      BinaryCorrectCount). From the trainer's correct
//                                      count (Totals): no sums of its own
//   sparse_top_k_categorical_accuracy  label among the k largest outputs (k = 5 by
//                                      default); ties at the k-th value count as
//                                      inside, as tf.math.in_top_k does
//   mean_absolute_error, mae           mean |label - output| (one-unit output)
//   precision, recall                  binary, threshold 0.5: predicted positive when
//                                      the probability is > 0.5; label != 0 is positive
//   auc                                binary ROC AUC with Keras's defaults: 200
//                                      thresholds, interpolation summation
// Binary metrics read the one-unit output as a probability, or as a logit
// (sigmoid applied first) when the loss is from_logits, as Keras's
// AUC(from_logits=True) does. With a fused softmax loss the output seen is the
// logits, whose ranking (accuracy, top-k) is the probabilities'.
//
// Metrics are immutable after creation; Accumulate is const and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "common/status.h"

namespace shardtrain::metrics {

// What every training and evaluation pass counts anyway, summed over ranks:
// the examples, and those whose argmax is the label.
struct Totals {
  int64_t examples = 0;
  int64_t correct = 0;
};

// The model output the metrics read.
struct OutputSpec {
  int64_t units = 0;      // values per example
  bool is_logit = false;  // a one-unit output that is a logit (from_logits loss)
  int64_t top_k = 5;      // k of sparse_top_k_categorical_accuracy
};

class Metric {
 public:
  virtual ~Metric() = default;

  // Keras's name for it, as configured ("mae" stays "mae").
  const std::string& name() const { return name_; }

  // Doubles of state this metric sums (0 for accuracy).
  virtual int64_t num_sums() const = 0;
  // Adds `rows` examples to sums[0, num_sums()): outputs (rows, units), labels (rows).
  virtual void Accumulate(const float* outputs, const int32_t* labels, int64_t rows,
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

// The metric configured as `name` for `output`. InvalidArgument for an unknown
// name, or a binary metric or MAE on an output wider than one unit (the
// message names the metric and what to use instead).
StatusOr<std::unique_ptr<Metric>> CreateMetric(const std::string& name, const OutputSpec& output);

}  // namespace shardtrain::metrics
