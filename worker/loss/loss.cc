#include "worker/loss/loss.h"

#include <algorithm>

namespace shardtrain::loss {
namespace {

// Cross-entropy on a model's output: from logits (linear last layer) or from
// probabilities (softmax last layer, fused). Anything else is ambiguous.
Status CheckCrossEntropyHead(const char* name, bool from_logits, kernels::Activation last) {
  if (from_logits && last != kernels::Activation::kLinear) {
    return InvalidArgumentError(std::string("loss.") + name +
                                ".from_logits is true but the last dense layer applies " +
                                std::string(kernels::ActivationName(last)) +
                                "; set its activation to LINEAR, or from_logits: false with "
                                "SOFTMAX");
  }
  if (!from_logits && last != kernels::Activation::kSoftmax) {
    return InvalidArgumentError(std::string("loss.") + name +
                                ".from_logits is false, so the last dense layer must use "
                                "activation: SOFTMAX (it uses " +
                                std::string(kernels::ActivationName(last)) +
                                "); or set from_logits: true");
  }
  return OkStatus();
}

}  // namespace

StatusOr<Loss> Loss::Create(const config::LossConfig& config,
                            kernels::Activation final_activation, int64_t classes,
                            int64_t max_batch) {
  Loss loss;
  loss.classes_ = classes;
  switch (config.kind_case()) {
    case config::LossConfig::kSparseCategoricalCrossentropy: {
      bool from_logits = config.sparse_categorical_crossentropy().from_logits();
      RETURN_IF_ERROR(CheckCrossEntropyHead("sparse_categorical_crossentropy", from_logits,
                                            final_activation));
      loss.kind_ = Kind::kSparseCrossEntropy;
      loss.name_ = "sparse_categorical_crossentropy";
      loss.fuses_final_softmax_ = !from_logits;
      break;
    }
    case config::LossConfig::kCategoricalCrossentropy: {
      bool from_logits = config.categorical_crossentropy().from_logits();
      RETURN_IF_ERROR(
          CheckCrossEntropyHead("categorical_crossentropy", from_logits, final_activation));
      loss.kind_ = Kind::kCrossEntropy;
      loss.name_ = "categorical_crossentropy";
      loss.fuses_final_softmax_ = !from_logits;
      break;
    }
    case config::LossConfig::kMeanSquaredError:
      loss.kind_ = Kind::kMeanSquaredError;
      loss.name_ = "mean_squared_error";
      break;
    case config::LossConfig::KIND_NOT_SET:
      return InvalidArgumentError(
          "loss is not set: choose one of sparse_categorical_crossentropy, "
          "categorical_crossentropy, mean_squared_error");
  }
  loss.losses_.resize(static_cast<size_t>(max_batch));
  if (loss.kind_ != Kind::kSparseCrossEntropy) {
    loss.one_hot_.resize(static_cast<size_t>(max_batch * classes));
  }
  return loss;
}

double Loss::Compute(kernels::KernelBackend& backend, const float* output, const int32_t* labels,
                     int64_t rows, float* grad, double grad_divisor) {
  float scale = static_cast<float>(1.0 / grad_divisor);
  if (kind_ != Kind::kSparseCrossEntropy) {
    std::fill(one_hot_.begin(), one_hot_.begin() + rows * classes_, 0.0f);
    for (int64_t r = 0; r < rows; ++r) one_hot_[static_cast<size_t>(r * classes_ + labels[r])] = 1.0f;
  }
  switch (kind_) {
    case Kind::kSparseCrossEntropy:
      backend.SparseSoftmaxCrossEntropyForward(output, labels, losses_.data(), rows, classes_);
      if (grad != nullptr) {
        backend.SparseSoftmaxCrossEntropyBackward(output, labels, scale, grad, rows, classes_);
      }
      break;
    case Kind::kCrossEntropy:
      backend.SoftmaxCrossEntropyForward(output, one_hot_.data(), losses_.data(), rows, classes_);
      if (grad != nullptr) {
        backend.SoftmaxCrossEntropyBackward(output, one_hot_.data(), scale, grad, rows, classes_);
      }
      break;
    case Kind::kMeanSquaredError:
      backend.MeanSquaredErrorForward(output, one_hot_.data(), losses_.data(), rows, classes_);
      if (grad != nullptr) {
        backend.MeanSquaredErrorBackward(output, one_hot_.data(), scale, grad, rows, classes_);
      }
      break;
  }
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) sum += losses_[static_cast<size_t>(r)];
  return sum;
}

}  // namespace shardtrain::loss
