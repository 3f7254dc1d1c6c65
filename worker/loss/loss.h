// Loss: the training objective over a model's output and integer class-id
// labels, the only label kind the data pipeline (worker/data) yields.
//
// CheckLossAcceptsClassIds says which losses fit such labels: sparse
// categorical cross-entropy always; mean squared error only for one class (a
// one-unit output, whose target is the label's value, as Keras broadcasts it);
// binary cross-entropy for two classes (labels 0/1) and a one-unit output, the
// probability of class 1; categorical cross-entropy never, as it needs one-hot
// or soft label vectors. Loss::Create applies the same check.
//
// Cross-entropy heads: with from_logits the last layer must be linear. Sparse
// categorical cross-entropy with from_logits = false needs a softmax head and
// is computed from the pre-softmax logits (the fused, numerically stable form
// TensorFlow uses too), so the model skips its final softmax while training.
// Binary cross-entropy with from_logits = false needs a sigmoid head and is
// computed from its probabilities, clipped to [1e-7, 1 - 1e-7] as Keras does
// (the model has no sigmoid skip, so this is not fused; TensorFlow's Keras
// would use the logits, which differs only where the sigmoid saturates).
//
// Class weights (Keras fit's class_weight, TrainingConfig.class_weight) scale
// each training example's loss and gradient by its class's weight; the sum is
// still divided by the example count (Keras's sum_over_batch_size). They apply
// to training only: Compute without a gradient (evaluation) is unweighted.
// Buffers are allocated once for `max_batch` rows. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"

namespace shardtrain::loss {

// OK when `config` can be computed on integer class-id labels in
// [0, num_classes); otherwise InvalidArgument naming the loss, the labels' kind
// and the loss to use instead. An unset loss is left to the caller to report.
Status CheckLossAcceptsClassIds(const config::LossConfig& config, int64_t num_classes);

// True when `config` reads the model's output as logits (`from_logits: true`,
// whichever loss it is): what a one-unit metric and an export's probabilities
// output need to know.
bool LossTakesLogits(const config::LossConfig& config);

// The model output width `config` needs for `num_classes` classes: 1 for
// binary cross-entropy (the probability or logit of class 1), else num_classes.
int64_t OutputUnits(const config::LossConfig& config, int64_t num_classes);

// The loss settings of `job` before any model is built: CheckLossAcceptsClassIds
// against data.num_classes, binary_crossentropy.label_smoothing in [0, 1], and
// training.class_weight (ids in [0, data.num_classes), weights finite and
// >= 0). InvalidArgument names the field and the value.
Status CheckLossConfig(const config::JobConfig& job);

class Loss {
 public:
  // The loss of `job` (loss, data.num_classes, training.class_weight) for a
  // model whose output has `output_units` values per example. Errors:
  // InvalidArgument for an unset loss, what CheckLossConfig refuses, an output
  // width other than OutputUnits (naming both), or a cross-entropy head that
  // does not match from_logits.
  static StatusOr<Loss> Create(const config::JobConfig& job, kernels::Activation final_activation,
                               int64_t output_units, int64_t max_batch);

  // True when the model's output should be taken before its final softmax.
  bool fuses_final_softmax() const { return fuses_final_softmax_; }
  // Keras name, e.g. "sparse_categorical_crossentropy".
  const std::string& name() const { return name_; }

  // Sum over the `rows` examples of the per-example loss. When `grad` is not
  // null (a training step), each example's loss is weighted by its class
  // weight and d(weighted sum / grad_divisor)/d(output) is written there
  // (rows, output_units).
  double Compute(kernels::KernelBackend& backend, const float* output, const int32_t* labels,
                 int64_t rows, float* grad, double grad_divisor);

 private:
  enum class Kind { kSparseCrossEntropy, kMeanSquaredError, kBinaryCrossEntropy };

  // Kind, name, from_logits and label smoothing of `config`, and its head check.
  // Expects a `config` that CheckLossConfig accepted.
  Status Configure(const config::LossConfig& config, kernels::Activation final_activation);
  // Per-example losses into losses_, and the unweighted gradient when `grad`.
  void ComputeUnweighted(kernels::KernelBackend& backend, const float* output,
                         const int32_t* labels, int64_t rows, float* grad, float grad_scale);
  // targets_[r] = labels[r] as a float; label-smoothed for binary cross-entropy.
  void FillTargets(const int32_t* labels, int64_t rows);

  Kind kind_ = Kind::kSparseCrossEntropy;
  std::string name_;
  bool fuses_final_softmax_ = false;
  bool from_logits_ = false;
  float label_smoothing_ = 0.0f;      // binary cross-entropy only
  int64_t units_ = 0;                 // the model's output width
  std::vector<float> losses_;         // (max_batch)
  std::vector<float> targets_;        // (max_batch), MSE and binary cross-entropy: labels as floats
  std::vector<float> class_weights_;  // (num_classes), empty when no class_weight is set
  std::vector<float> row_weights_;    // (max_batch), the class weight of each row
};

}  // namespace shardtrain::loss
