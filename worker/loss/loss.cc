#include "worker/loss/loss.h"

#include <cctype>
#include <cmath>
#include <string>

namespace shardtrain::loss {
namespace {

// Cross-entropy on a model's output: from logits (linear last layer) or from
// probabilities (a `probabilities` last layer: softmax, or sigmoid for binary
// cross-entropy). Anything else is ambiguous.
Status CheckCrossEntropyHead(const std::string& name, bool from_logits, kernels::Activation last,
                             kernels::Activation probabilities) {
  std::string head(kernels::ActivationName(probabilities));  // as the config spells it: SOFTMAX
  for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (from_logits && last != kernels::Activation::kLinear) {
    return InvalidArgumentError(
        "loss." + name + ".from_logits is true but the last dense layer applies " +
        std::string(kernels::ActivationName(last)) +
        "; set its activation to LINEAR, or from_logits: false with " + head);
  }
  if (!from_logits && last != probabilities) {
    return InvalidArgumentError("loss." + name +
                                ".from_logits is false, so the last dense layer must use "
                                "activation: " +
                                head + " (it uses " + std::string(kernels::ActivationName(last)) +
                                "); or set from_logits: true");
  }
  return OkStatus();
}

// The loss to suggest for class ids, keeping the user's from_logits.
std::string SparseSuggestion(bool from_logits) {
  return std::string("use `loss { sparse_categorical_crossentropy { from_logits: ") +
         (from_logits ? "true" : "false") + " } }` for class ids";
}

// The model's output width against the loss and data.num_classes.
Status CheckOutputUnits(const config::LossConfig& config, int64_t num_classes,
                        int64_t output_units) {
  const int64_t expected = OutputUnits(config, num_classes);
  if (output_units == expected) return OkStatus();
  const std::string fix = config.has_binary_crossentropy()
                              ? "; binary_crossentropy needs one output unit (the probability of "
                                "class 1): make the last dense layer's units 1"
                              : "; make the last dense layer's units equal num_classes";
  return InvalidArgumentError("the model's output has " + std::to_string(output_units) +
                              " units but data.num_classes is " + std::to_string(num_classes) +
                              fix);
}

// Keras fit's class_weight: ids in range, weights finite and >= 0.
Status CheckClassWeights(const google::protobuf::Map<int64_t, float>& class_weight,
                         int64_t num_classes) {
  for (const auto& [id, weight] : class_weight) {
    if (id < 0 || id >= num_classes) {
      return InvalidArgumentError(
          "training.class_weight has class id " + std::to_string(id) +
          ", outside [0, data.num_classes = " + std::to_string(num_classes) + ")");
    }
    if (!std::isfinite(weight) || weight < 0.0f) {
      return InvalidArgumentError("training.class_weight of class " + std::to_string(id) + " is " +
                                  std::to_string(weight) + "; weights must be finite and >= 0");
    }
  }
  return OkStatus();
}

}  // namespace

Status CheckLossAcceptsClassIds(const config::LossConfig& config, int64_t num_classes) {
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
      if (num_classes == 1) return OkStatus();
      return InvalidArgumentError(
          "loss mean_squared_error needs labels shaped like the model's output (" +
          std::to_string(num_classes) + " values per example), but " + kClassIds + "; " +
          SparseSuggestion(true) + " and a linear last layer (from_logits: false with softmax)");
    case config::LossConfig::kBinaryCrossentropy:
      if (num_classes == 2) return OkStatus();
      return InvalidArgumentError(
          "loss binary_crossentropy needs labels 0 and 1 (data.num_classes: 2), but "
          "data.num_classes is " +
          std::to_string(num_classes) + "; with more classes " +
          SparseSuggestion(config.binary_crossentropy().from_logits()));
  }
  return OkStatus();
}

Status CheckLossConfig(const config::JobConfig& job) {
  const int64_t num_classes = job.data().num_classes();
  RETURN_IF_ERROR(CheckLossAcceptsClassIds(job.loss(), num_classes));
  const float smoothing = job.loss().binary_crossentropy().label_smoothing();
  if (!(smoothing >= 0.0f && smoothing <= 1.0f)) {
    return InvalidArgumentError("loss.binary_crossentropy.label_smoothing must be in [0, 1], got " +
                                std::to_string(smoothing));
  }
  return CheckClassWeights(job.training().class_weight(), num_classes);
}

bool LossTakesLogits(const config::LossConfig& config) {
  // Every loss message's from_logits field, found by reflection so a new loss
  // with one needs no change here.
  const google::protobuf::Reflection* reflection = config.GetReflection();
  const google::protobuf::FieldDescriptor* kind =
      reflection->GetOneofFieldDescriptor(config, config.GetDescriptor()->FindOneofByName("kind"));
  if (kind == nullptr || kind->message_type() == nullptr) return false;
  const google::protobuf::Message& message = reflection->GetMessage(config, kind);
  const google::protobuf::FieldDescriptor* from_logits =
      message.GetDescriptor()->FindFieldByName("from_logits");
  return from_logits != nullptr &&
         from_logits->type() == google::protobuf::FieldDescriptor::TYPE_BOOL &&
         message.GetReflection()->GetBool(message, from_logits);
}

int64_t OutputUnits(const config::LossConfig& config, int64_t num_classes) {
  return config.kind_case() == config::LossConfig::kBinaryCrossentropy ? 1 : num_classes;
}

Status Loss::Configure(const config::LossConfig& config, kernels::Activation final_activation) {
  switch (config.kind_case()) {
    case config::LossConfig::kSparseCategoricalCrossentropy:
      kind_ = Kind::kSparseCrossEntropy;
      name_ = "sparse_categorical_crossentropy";
      from_logits_ = config.sparse_categorical_crossentropy().from_logits();
      fuses_final_softmax_ = !from_logits_;
      return CheckCrossEntropyHead(name_, from_logits_, final_activation,
                                   kernels::Activation::kSoftmax);
    case config::LossConfig::kBinaryCrossentropy:
      kind_ = Kind::kBinaryCrossEntropy;
      name_ = "binary_crossentropy";
      from_logits_ = config.binary_crossentropy().from_logits();
      label_smoothing_ = config.binary_crossentropy().label_smoothing();
      return CheckCrossEntropyHead(name_, from_logits_, final_activation,
                                   kernels::Activation::kSigmoid);
    case config::LossConfig::kMeanSquaredError:
      kind_ = Kind::kMeanSquaredError;
      name_ = "mean_squared_error";
      return OkStatus();
    case config::LossConfig::kCategoricalCrossentropy:  // refused by CheckLossAcceptsClassIds
    case config::LossConfig::KIND_NOT_SET:
      break;
  }
  return InvalidArgumentError(
      "loss is not set: choose sparse_categorical_crossentropy (integer class ids), "
      "binary_crossentropy (labels 0/1, one output unit) or mean_squared_error (one output unit)");
}

StatusOr<Loss> Loss::Create(const config::JobConfig& job, kernels::Activation final_activation,
                            int64_t output_units, int64_t max_batch) {
  const config::LossConfig& config = job.loss();
  const int64_t num_classes = job.data().num_classes();
  RETURN_IF_ERROR(CheckLossConfig(job));
  RETURN_IF_ERROR(CheckOutputUnits(config, num_classes, output_units));
  Loss loss;
  RETURN_IF_ERROR(loss.Configure(config, final_activation));
  loss.units_ = output_units;
  if (loss.kind_ != Kind::kSparseCrossEntropy) loss.targets_.resize(static_cast<size_t>(max_batch));
  if (!job.training().class_weight().empty()) {
    loss.class_weights_.assign(static_cast<size_t>(num_classes), 1.0f);  // Keras: unlisted -> 1
    for (const auto& [id, weight] : job.training().class_weight()) {
      loss.class_weights_[static_cast<size_t>(id)] = weight;
    }
    loss.row_weights_.resize(static_cast<size_t>(max_batch));
  }
  loss.losses_.resize(static_cast<size_t>(max_batch));
  return loss;
}

void Loss::FillTargets(const int32_t* labels, int64_t rows) {
  // Keras: y (1 - label_smoothing) + label_smoothing / 2 (0 for MSE).
  const float keep = 1.0f - label_smoothing_, shift = 0.5f * label_smoothing_;
  for (int64_t r = 0; r < rows; ++r) {
    targets_[static_cast<size_t>(r)] = static_cast<float>(labels[r]) * keep + shift;
  }
}

void Loss::ComputeUnweighted(kernels::KernelBackend& backend, const float* output,
                             const int32_t* labels, int64_t rows, float* grad, float grad_scale) {
  switch (kind_) {
    case Kind::kSparseCrossEntropy:
      backend.SparseSoftmaxCrossEntropyForward(output, labels, losses_.data(), rows, units_);
      if (grad != nullptr) {
        backend.SparseSoftmaxCrossEntropyBackward(output, labels, grad_scale, grad, rows, units_);
      }
      break;
    case Kind::kMeanSquaredError:  // one output unit: the target is the label's value
      FillTargets(labels, rows);
      backend.MeanSquaredErrorForward(output, targets_.data(), losses_.data(), rows, units_);
      if (grad != nullptr) {
        backend.MeanSquaredErrorBackward(output, targets_.data(), grad_scale, grad, rows, units_);
      }
      break;
    case Kind::kBinaryCrossEntropy:
      FillTargets(labels, rows);
      backend.BinaryCrossEntropyForward(output, targets_.data(), from_logits_, losses_.data(), rows,
                                        units_);
      if (grad != nullptr) {
        backend.BinaryCrossEntropyBackward(output, targets_.data(), from_logits_, grad_scale, grad,
                                           rows, units_);
      }
      break;
  }
}

double Loss::Compute(kernels::KernelBackend& backend, const float* output, const int32_t* labels,
                     int64_t rows, float* grad, double grad_divisor) {
  ComputeUnweighted(backend, output, labels, rows, grad, static_cast<float>(1.0 / grad_divisor));
  const bool weighted = grad != nullptr && !class_weights_.empty();
  if (weighted) {
    for (int64_t r = 0; r < rows; ++r) {
      row_weights_[static_cast<size_t>(r)] = class_weights_[static_cast<size_t>(labels[r])];
    }
    backend.ScaleRows(grad, row_weights_.data(), rows, units_);
  }
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const double loss = losses_[static_cast<size_t>(r)];
    sum += weighted ? loss * row_weights_[static_cast<size_t>(r)] : loss;
  }
  return sum;
}

}  // namespace shardtrain::loss
