// Loss: the training objective over a model's output and integer labels.
//
// Sparse categorical cross-entropy uses the labels directly; categorical
// cross-entropy and MSE compare against one-hot labels. With from_logits =
// false the model must end in softmax, and the loss is computed from the
// pre-softmax logits (the fused, numerically stable form TensorFlow uses
// too), so the model skips its final softmax while training. Buffers are
// allocated once for `max_batch` rows. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"

namespace shardtrain::loss {

class Loss {
 public:
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
  enum class Kind { kSparseCrossEntropy, kCrossEntropy, kMeanSquaredError };
  Kind kind_ = Kind::kSparseCrossEntropy;
  std::string name_;
  bool fuses_final_softmax_ = false;
  int64_t classes_ = 0;
  std::vector<float> losses_;   // (max_batch)
  std::vector<float> one_hot_;  // (max_batch, classes), categorical losses only
};

}  // namespace shardtrain::loss
