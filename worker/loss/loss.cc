#include "worker/loss/loss.h"

#include <string>

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

// The loss to suggest for class ids, keeping the user's from_logits.
std::string SparseSuggestion(bool from_logits) {
  return std::string("use `loss { sparse_categorical_crossentropy { from_logits: ") +
         (from_logits ? "true" : "false") + " } }` for class ids";
}

}  // namespace

Status CheckLossAcceptsClassIds(const config::LossConfig& config, int64_t output_width) {
  constexpr char kClassIds[] =
      "the data's labels are integer class ids (one int64 'label' per example)";
  switch (config.kind_case()) {
    case config::LossConfig::kSparseCategoricalCrossentropy:
    case config::LossConfig::KIND_NOT_SET:
      return OkStatus();
    case config::LossConfig::kCategoricalCrossentropy:
      return InvalidArgumentError(
          std::string("loss categorical_crossentropy needs one-hot (or soft) label vectors, but ") +
          kClassIds + "; " + SparseSuggestion(config.categorical_crossentropy().from_logits()));
    case config::LossConfig::kMeanSquaredError:
      if (output_width == 1) return OkStatus();
      return InvalidArgumentError(
          "loss mean_squared_error needs labels shaped like the model's output (" +
          std::to_string(output_width) + " values per example), but " + kClassIds + "; " +
          SparseSuggestion(true) + " and a linear last layer (from_logits: false with softmax)");
  }
  return OkStatus();
}

StatusOr<Loss> Loss::Create(const config::LossConfig& config,
                            kernels::Activation final_activation, int64_t classes,
                            int64_t max_batch) {
  RETURN_IF_ERROR(CheckLossAcceptsClassIds(config, classes));
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
    case config::LossConfig::kMeanSquaredError:
      loss.kind_ = Kind::kMeanSquaredError;
      loss.name_ = "mean_squared_error";
      loss.targets_.resize(static_cast<size_t>(max_batch));
      break;
    case config::LossConfig::kCategoricalCrossentropy:  // refused above
    case config::LossConfig::KIND_NOT_SET:
      return InvalidArgumentError(
          "loss is not set: choose sparse_categorical_crossentropy (integer class ids) or "
          "mean_squared_error (one output unit)");
  }
  loss.losses_.resize(static_cast<size_t>(max_batch));
  return loss;
}

double Loss::Compute(kernels::KernelBackend& backend, const float* output, const int32_t* labels,
                     int64_t rows, float* grad, double grad_divisor) {
  float scale = static_cast<float>(1.0 / grad_divisor);
  switch (kind_) {
    case Kind::kSparseCrossEntropy:
      backend.SparseSoftmaxCrossEntropyForward(output, labels, losses_.data(), rows, classes_);
      if (grad != nullptr) {
        backend.SparseSoftmaxCrossEntropyBackward(output, labels, scale, grad, rows, classes_);
      }
      break;
    case Kind::kMeanSquaredError:  // one output unit: the target is the label's value
      for (int64_t r = 0; r < rows; ++r) {
        targets_[static_cast<size_t>(r)] = static_cast<float>(labels[r]);
      }
      backend.MeanSquaredErrorForward(output, targets_.data(), losses_.data(), rows, classes_);
      if (grad != nullptr) {
        backend.MeanSquaredErrorBackward(output, targets_.data(), scale, grad, rows, classes_);
      }
      break;
  }
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) sum += losses_[static_cast<size_t>(r)];
  return sum;
}

}  // namespace shardtrain::loss
