// Loss: the training objective over a model's output and a batch's targets
// (loss::Targets), in either label kind the data pipeline yields
// (config::LabelSpec): integer class ids, or a float vector per example.
//
// CheckLossAcceptsTargets says which losses fit the job's labels.
// Class ids (CheckLossAcceptsClassIds): sparse categorical cross-entropy
// always; mean squared error only for one class (a one-unit output, whose
// target is the label's value, as Keras broadcasts it); binary cross-entropy
// for two classes (labels 0/1) and a one-unit output, the probability of class
// 1; categorical cross-entropy never, as it needs label vectors.
// VECTOR labels of `size` values, the model's output width: categorical
// cross-entropy (size >= 2; one-hot or soft targets), mean squared error and
// binary cross-entropy (multi-label targets in [0, 1]), each the mean over
// the last axis as Keras computes it; sparse categorical cross-entropy never.
// Loss::Create applies the same checks.
//
// Cross-entropy heads: with from_logits the last layer must be linear. Sparse
// and dense categorical cross-entropy with from_logits = false need a softmax
// head and are computed from the pre-softmax logits (the fused, numerically
// stable form TensorFlow's Keras uses too), so the model skips its final
// softmax while training. Binary cross-entropy with from_logits = false needs a
// sigmoid head and is computed from its probabilities, clipped to
// [1e-7, 1 - 1e-7] as Keras does (the model has no sigmoid skip, so this is not
// fused; TensorFlow's Keras would use the logits, which differs only where the
// sigmoid saturates). label_smoothing (binary: t (1 - s) + s / 2; categorical:
// t (1 - s) + s / size) applies to training and evaluation alike, as in Keras.
//
// Class weights (Keras fit's class_weight, TrainingConfig.class_weight) scale
// each training example's loss and gradient by its class's weight; the sum is
// still divided by the example count (Keras's sum_over_batch_size). They apply
// to training only: Compute without a gradient (evaluation) is unweighted. An
// example's class is its class id; for VECTOR labels Keras's rule: the argmax
// of the target (first maximum) for categorical cross-entropy, the value
// rounded half to even for one-unit binary cross-entropy. Multi-label and
// regression targets have no class, so class_weight is refused with them.
// Memory: the model output, the gradient and the targets' arrays given to
// Compute are device memory of the backend given to Create (on the CPU
// backend, host memory). The loss's own buffers are allocated on that backend
// once, for `max_batch` rows. The per-example losses come back to the host
// through one copy per Compute (none on the CPU backend), which waits for the
// backend; so does reading the targets when the host must prepare them (class
// ids as floats, label smoothing, class weights), as no backend op does that
// yet. The host sums the losses in row order, so every backend's sum is the
// CPU backend's bit for bit. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/loss/host_staging.h"
#include "worker/loss/targets.h"

namespace shardtrain::loss {

// OK when `config` can be computed on integer class-id labels in
// [0, num_classes); otherwise InvalidArgument naming the loss, the labels' kind
// and the loss to use instead. An unset loss is left to the caller to report.
Status CheckLossAcceptsClassIds(const config::LossConfig& config, int64_t num_classes);

// OK when `config` can be computed on the labels `data` describes (data.label:
// class ids in [0, data.num_classes), or VECTOR labels of label.size values)
// for a model output of `output_units` values per example; otherwise
// InvalidArgument naming the loss, the label kind and what to change (for
// VECTOR labels, label.size must equal `output_units`). An unset loss is left
// to the caller to report.
Status CheckLossAcceptsTargets(const config::LossConfig& config, const config::DataConfig& data,
                               int64_t output_units);

// True when `config` reads the model's output as logits (`from_logits: true`,
// whichever loss it is): what a one-unit metric and an export's probabilities
// output need to know.
bool LossTakesLogits(const config::LossConfig& config);

// The model output width `config` needs for `num_classes` classes: 1 for
// binary cross-entropy (the probability or logit of class 1), else num_classes.
int64_t OutputUnits(const config::LossConfig& config, int64_t num_classes);
// The model output width the job's labels need: label.size for VECTOR labels,
// else OutputUnits(config, data.num_classes).
int64_t OutputUnits(const config::LossConfig& config, const config::DataConfig& data);

// True when `data` yields VECTOR labels (loss::Targets with width > 0).
bool HasVectorLabels(const config::DataConfig& data);

// The loss settings of `job` before any model is built: CheckLossAcceptsTargets
// for the output width the labels need, label_smoothing in [0, 1], and
// training.class_weight (ids in [0, data.num_classes), or the label's classes
// for VECTOR labels; weights finite and >= 0). InvalidArgument names the field
// and the value.
Status CheckLossConfig(const config::JobConfig& job);

// What a loss must know of the model's last activation (Model::final_activation
// and final_activation_positions): a cross-entropy from probabilities needs a
// softmax (sigmoid) head, one from logits a linear head, and a softmax head
// must span the whole row (positions 1), not each pixel of a (h, w, C) output.
struct OutputHead {
  kernels::Activation activation = kernels::Activation::kLinear;
  int64_t positions = 1;
};

class Loss {
 public:
  // The loss of `job` (loss, data.label, data.num_classes,
  // training.class_weight) for a model whose output has `output_units` values
  // per example, computed on `backend` (which must outlive the loss). Errors:
  // InvalidArgument for an unset loss, what CheckLossConfig refuses, an output
  // width the labels do not fit (naming both), or a cross-entropy head that
  // does not match from_logits; the backend's allocation errors.
  static StatusOr<Loss> Create(kernels::KernelBackend& backend, const config::JobConfig& job,
                               const OutputHead& head, int64_t output_units, int64_t max_batch);

  // True when the model's output should be taken before its final softmax.
  bool fuses_final_softmax() const { return fuses_final_softmax_; }
  // Keras name, e.g. "sparse_categorical_crossentropy".
  const std::string& name() const { return name_; }

  // Sum over the `rows` (<= max_batch) examples of the per-example loss.
  // `targets` is of the job's label kind: class ids, or vectors of
  // output_units values. When `grad` is not null (a training step), each
  // example's loss is weighted by its class weight and d(weighted sum /
  // grad_divisor)/d(output) is written there (rows, output_units): the trainer
  // passes the global batch's row count, so the gradients summed over ranks are
  // those of the global mean. `output`, `grad` and the targets' arrays are
  // device memory of `backend`, the backend given to Create. Errors: what the
  // backend recorded (its Synchronize), e.g. FailedPrecondition for a host
  // pointer given to a device.
  StatusOr<double> Compute(kernels::KernelBackend& backend, const float* output,
                           const Targets& targets, int64_t rows, float* grad, double grad_divisor);

 private:
  enum class Kind {
    kSparseCrossEntropy,
    kCategoricalCrossEntropy,
    kMeanSquaredError,
    kBinaryCrossEntropy
  };

  // Kind, name, from_logits and label smoothing of `config`, and its head check.
  // Expects a `config` that CheckLossConfig accepted.
  Status Configure(const config::LossConfig& config, const OutputHead& head);
  // The device buffers for `max_batch` rows of `job`'s labels, and the host
  // copy buffers on a backend whose memory the host cannot read.
  Status AllocateBuffers(kernels::KernelBackend& backend, const config::JobConfig& job,
                         int64_t max_batch);
  // Class weights of the job, when it has any.
  void SetClassWeights(const config::JobConfig& job);
  // True when Compute reads the targets on the host (see TargetValues and
  // FillRowWeights); `weighted`: a training step with class weights.
  bool ReadsTargetsOnHost(const Targets& targets, bool weighted) const;
  // `targets` as the host reads them (copies where the host cannot read the
  // device), after waiting for the copies.
  StatusOr<Targets> HostTargets(kernels::KernelBackend& backend, const Targets& targets,
                                int64_t rows);
  // Per-example losses into losses_, and the unweighted gradient when `grad`.
  void ComputeUnweighted(kernels::KernelBackend& backend, const float* output,
                         const float* target_values, const int32_t* class_ids, int64_t rows,
                         float* grad, float grad_scale);
  // The float targets of the batch on the device: class ids as floats (one
  // unit), or the target vectors, label-smoothed when label_smoothing_ > 0
  // (targets_ holds them then, filled from `host`, the host's view of
  // `targets`); the vectors themselves otherwise.
  const float* TargetValues(kernels::KernelBackend& backend, const Targets& targets,
                            const Targets& host, int64_t rows);
  // row_weights_[r] = the class weight of row r (Keras's class of a target),
  // from the host's view of the targets, uploaded to the device.
  void FillRowWeights(kernels::KernelBackend& backend, const Targets& host, int64_t rows);

  Kind kind_ = Kind::kSparseCrossEntropy;
  std::string name_;
  bool fuses_final_softmax_ = false;
  bool from_logits_ = false;
  float label_smoothing_ = 0.0f;  // binary and categorical cross-entropy
  int64_t units_ = 0;             // the model's output width
  kernels::DeviceBuffer losses_;  // (max_batch) per-example losses
  HostReads loss_reads_;          // the losses' way to the host
  MirroredArray targets_;         // (max_batch, units): float targets when computed
  MirroredArray row_weights_;     // (max_batch), the class weight of each row
  HostReads target_reads_;        // the targets' way to the host when it prepares them
  // By class, empty when no class_weight is set: a host lookup table (no op reads it).
  std::vector<float> class_weights_;
};

}  // namespace shardtrain::loss
