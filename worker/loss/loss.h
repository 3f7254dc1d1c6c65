// Loss: the training objective over a model's output and integer class-id
// labels, the only label kind the data pipeline (worker/data) yields.
//
// CheckLossAcceptsClassIds says which losses fit such labels: sparse
// categorical cross-entropy always; mean squared error only for a one-unit
// output, whose target is the label's value (as Keras broadcasts it);
// categorical cross-entropy never, as it needs one-hot or soft label vectors.
// Loss::Create applies the same check. With from_logits = false the model must
// end in softmax, and the loss is computed from the pre-softmax logits (the
// fused, numerically stable form TensorFlow uses too), so the model skips its
// final softmax while training. Buffers are allocated once for `max_batch`
// rows. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"

namespace shardtrain::loss {

// OK when `config` can be computed on integer class-id labels against a model
// output of `output_width` values per example; otherwise InvalidArgument
// naming the loss, the labels' kind and the loss to use instead. An unset
// loss is left to the caller to report.
Status CheckLossAcceptsClassIds(const config::LossConfig& config, int64_t output_width);

class Loss {
 public:
  // `classes`: the model's output width. Errors: InvalidArgument for an unset
  // loss, a loss that does not fit class-id labels (CheckLossAcceptsClassIds)
  // or a cross-entropy head that does not match from_logits.
  static StatusOr<Loss> Create(const config::LossConfig& config,
                               kernels::Activation final_activation, int64_t classes,
                               int64_t max_batch);

  // True when the model's output should be taken before its final softmax.
  bool fuses_final_softmax() const { return fuses_final_softmax_; }
  // Keras name, e.g. "sparse_categorical_crossentropy".
  const std::string& name() const { return name_; }

  // Sum over the `rows` examples of the per-example loss. When `grad` is not
  // null, writes d(sum loss / grad_divisor)/d(output) there (rows, classes).
  double Compute(kernels::KernelBackend& backend, const float* output, const int32_t* labels,
                 int64_t rows, float* grad, double grad_divisor);

 private:
  enum class Kind { kSparseCrossEntropy, kMeanSquaredError };
  Kind kind_ = Kind::kSparseCrossEntropy;
  std::string name_;
  bool fuses_final_softmax_ = false;
  int64_t classes_ = 0;
  std::vector<float> losses_;   // (max_batch)
  std::vector<float> targets_;  // (max_batch), mean squared error only: the labels as floats
};

}  // namespace shardtrain::loss
