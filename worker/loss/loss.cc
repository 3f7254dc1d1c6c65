#include "worker/loss/loss.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

namespace shardtrain::loss {
namespace {

// Cross-entropy on a model's output: from logits (linear last layer) or from
// probabilities (a `probabilities` last layer: softmax, or sigmoid for binary
// cross-entropy). Anything else is ambiguous.
Status CheckCrossEntropyHead(const std::string& name, bool from_logits, const OutputHead& output,
                             kernels::Activation probabilities) {
  std::string head(kernels::ActivationName(probabilities));  // as the config spells it: SOFTMAX
  for (char& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const kernels::Activation last = output.activation;
  if (last == kernels::Activation::kSoftmax && output.positions > 1) {
    return InvalidArgumentError(
        "loss." + name + " takes one distribution over the whole output row, but the model's " +
        "softmax is computed separately at each of its " + std::to_string(output.positions) +
        " positions (a per-pixel softmax); end the model with Flatten and a Dense softmax "
        "head, or use a loss computed per element (mean_squared_error)");
  }
  if (from_logits && last != kernels::Activation::kLinear) {
    return InvalidArgumentError(
        "loss." + name + ".from_logits is true but the last layer applies " +
        std::string(kernels::ActivationName(last)) +
        "; set its activation to LINEAR, or from_logits: false with " + head);
  }
  if (!from_logits && last != probabilities) {
    return InvalidArgumentError("loss." + name +
                                ".from_logits is false, so the last layer must use "
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

// Keras fit's class_weight: ids in [0, classes) (`range` names that bound in
// the message), weights finite and >= 0.
Status CheckClassWeightValues(const google::protobuf::Map<int64_t, float>& class_weight,
                              int64_t classes, const std::string& range) {
  for (const auto& [id, weight] : class_weight) {
    if (id < 0 || id >= classes) {
      return InvalidArgumentError("training.class_weight has class id " + std::to_string(id) +
                                  ", outside [0, " + range + ")");
    }
    if (!std::isfinite(weight) || weight < 0.0f) {
      return InvalidArgumentError("training.class_weight of class " + std::to_string(id) + " is " +
                                  std::to_string(weight) + "; weights must be finite and >= 0");
    }
  }
  return OkStatus();
}

// The number of classes class_weight can name for VECTOR labels of `size`
// values under `config` (Keras's class of a target: its argmax, or its value
// rounded for one value), or 0 when the targets have no class.
int64_t VectorLabelClasses(const config::LossConfig& config, int64_t size) {
  if (config.has_categorical_crossentropy()) return size;
  if (config.has_binary_crossentropy() && size == 1) return 2;
  return 0;
}

Status CheckClassWeights(const config::JobConfig& job) {
  const auto& class_weight = job.training().class_weight();
  if (class_weight.empty()) return OkStatus();
  if (!HasVectorLabels(job.data())) {
    const int64_t num_classes = job.data().num_classes();
    return CheckClassWeightValues(class_weight, num_classes,
                                  "data.num_classes = " + std::to_string(num_classes));
  }
  const int64_t size = job.data().label().size();
  const int64_t classes = VectorLabelClasses(job.loss(), size);
  if (classes == 0) {
    return InvalidArgumentError(
        "training.class_weight needs a class per example, but VECTOR labels of " +
        std::to_string(size) + " values under this loss are multi-label or regression targets " +
        "(Keras would take the argmax or the rounded value as the class); remove "
        "training.class_weight, or use categorical_crossentropy with one-hot labels");
  }
  const std::string range =
      size == 1 ? "2) (a 0/1 target, rounded" : "data.label.size = " + std::to_string(size);
  return CheckClassWeightValues(class_weight, classes, range);
}

// label_smoothing of loss `name` in [0, 1].
Status CheckLabelSmoothing(const std::string& name, float smoothing) {
  if (smoothing >= 0.0f && smoothing <= 1.0f) return OkStatus();
  return InvalidArgumentError("loss." + name + ".label_smoothing must be in [0, 1], got " +
                              std::to_string(smoothing));
}

// The losses that fit VECTOR labels of `label.size` values, and the model's
// output width against it.
Status CheckLossAcceptsVectors(const config::LossConfig& config, const config::LabelSpec& label,
                               int64_t output_units) {
  const std::string size = std::to_string(label.size());
  const std::string vectors = "data.label is a VECTOR of " + size + " values per example";
  if (config.has_sparse_categorical_crossentropy()) {
    return InvalidArgumentError(
        "loss sparse_categorical_crossentropy needs integer class ids, but " + vectors +
        "; use `loss { categorical_crossentropy { from_logits: " +
        (config.sparse_categorical_crossentropy().from_logits() ? "true" : "false") +
        " } }` for one-hot or soft labels (or data.label { kind: CLASS_ID } for class ids)");
  }
  if (label.size() < 1) {
    return InvalidArgumentError("data.label.size must be positive for VECTOR labels, got " + size);
  }
  if (config.has_categorical_crossentropy() && label.size() < 2) {
    return InvalidArgumentError(
        "loss categorical_crossentropy needs at least 2 values per label (a softmax over one "
        "value is always 1), but " +
        vectors + "; use binary_crossentropy for one 0/1 target");
  }
  if (output_units != label.size()) {
    return InvalidArgumentError("the model's output has " + std::to_string(output_units) +
                                " units but " + vectors +
                                " (data.label.size); make the last "
                                "dense layer's units " +
                                size);
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
          kClassIds + "; " + SparseSuggestion(config.categorical_crossentropy().from_logits()) +
          ", or give label vectors (data.label { kind: VECTOR size: N })");
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

Status CheckLossAcceptsTargets(const config::LossConfig& config, const config::DataConfig& data,
                               int64_t output_units) {
  if (config.kind_case() == config::LossConfig::KIND_NOT_SET) return OkStatus();
  if (HasVectorLabels(data)) return CheckLossAcceptsVectors(config, data.label(), output_units);
  RETURN_IF_ERROR(CheckLossAcceptsClassIds(config, data.num_classes()));
  return CheckOutputUnits(config, data.num_classes(), output_units);
}

bool HasVectorLabels(const config::DataConfig& data) {
  return data.label().kind() == config::LabelSpec::VECTOR;
}

Status CheckLossConfig(const config::JobConfig& job) {
  const config::LossConfig& loss = job.loss();
  RETURN_IF_ERROR(CheckLossAcceptsTargets(loss, job.data(), OutputUnits(loss, job.data())));
  RETURN_IF_ERROR(
      CheckLabelSmoothing("binary_crossentropy", loss.binary_crossentropy().label_smoothing()));
  RETURN_IF_ERROR(CheckLabelSmoothing("categorical_crossentropy",
                                      loss.categorical_crossentropy().label_smoothing()));
  return CheckClassWeights(job);
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

int64_t OutputUnits(const config::LossConfig& config, const config::DataConfig& data) {
  return HasVectorLabels(data) ? data.label().size() : OutputUnits(config, data.num_classes());
}

Status Loss::Configure(const config::LossConfig& config, const OutputHead& head) {
  switch (config.kind_case()) {
    case config::LossConfig::kSparseCategoricalCrossentropy:
      kind_ = Kind::kSparseCrossEntropy;
      name_ = "sparse_categorical_crossentropy";
      from_logits_ = config.sparse_categorical_crossentropy().from_logits();
      fuses_final_softmax_ = !from_logits_;
      return CheckCrossEntropyHead(name_, from_logits_, head, kernels::Activation::kSoftmax);
    case config::LossConfig::kBinaryCrossentropy:
      kind_ = Kind::kBinaryCrossEntropy;
      name_ = "binary_crossentropy";
      from_logits_ = config.binary_crossentropy().from_logits();
      label_smoothing_ = config.binary_crossentropy().label_smoothing();
      return CheckCrossEntropyHead(name_, from_logits_, head, kernels::Activation::kSigmoid);
    case config::LossConfig::kCategoricalCrossentropy:
      kind_ = Kind::kCategoricalCrossEntropy;
      name_ = "categorical_crossentropy";
      from_logits_ = config.categorical_crossentropy().from_logits();
      label_smoothing_ = config.categorical_crossentropy().label_smoothing();
      fuses_final_softmax_ = !from_logits_;
      return CheckCrossEntropyHead(name_, from_logits_, head, kernels::Activation::kSoftmax);
    case config::LossConfig::kMeanSquaredError:
      kind_ = Kind::kMeanSquaredError;
      name_ = "mean_squared_error";
      return OkStatus();
    case config::LossConfig::KIND_NOT_SET:
      break;
  }
  return InvalidArgumentError(
      "loss is not set: choose sparse_categorical_crossentropy (integer class ids), "
      "binary_crossentropy (labels 0/1, one output unit) or mean_squared_error (one output unit)");
}

StatusOr<Loss> Loss::Create(kernels::KernelBackend& backend, const config::JobConfig& job,
                            const OutputHead& head, int64_t output_units, int64_t max_batch) {
  const config::LossConfig& config = job.loss();
  RETURN_IF_ERROR(CheckLossConfig(job));
  RETURN_IF_ERROR(CheckLossAcceptsTargets(config, job.data(), output_units));
  Loss loss;
  RETURN_IF_ERROR(loss.Configure(config, head));
  loss.units_ = output_units;
  loss.SetClassWeights(job);
  RETURN_IF_ERROR(loss.AllocateBuffers(backend, job, max_batch));
  return loss;
}

Status Loss::AllocateBuffers(kernels::KernelBackend& backend, const config::JobConfig& job,
                             int64_t max_batch) {
  const int64_t row_bytes = max_batch * static_cast<int64_t>(sizeof(float));
  int64_t target_floats = 0;
  if (HasVectorLabels(job.data())) {  // smoothed copies of the target vectors
    if (label_smoothing_ > 0.0f) target_floats = max_batch * units_;
  } else if (kind_ != Kind::kSparseCrossEntropy) {  // class ids as floats
    target_floats = max_batch;
  }
  ASSIGN_OR_RETURN(losses_, backend.AllocateDevice(row_bytes, "per-example losses"));
  ASSIGN_OR_RETURN(loss_reads_, HostReads::Create(backend, row_bytes, "per-example losses"));
  ASSIGN_OR_RETURN(
      targets_, MirroredArray::Create(backend, target_floats * static_cast<int64_t>(sizeof(float)),
                                      "loss targets"));
  if (!class_weights_.empty()) {
    ASSIGN_OR_RETURN(row_weights_,
                     MirroredArray::Create(backend, row_bytes, "class weights of rows"));
  }
  // The host reads the targets (class ids, or vectors of units_ values) when
  // it converts, smooths or weights them.
  const int64_t read_bytes = target_floats > 0 || !class_weights_.empty()
                                 ? max_batch * std::max<int64_t>(units_, 1) * kTargetValueBytes
                                 : 0;
  ASSIGN_OR_RETURN(target_reads_, HostReads::Create(backend, read_bytes, "loss targets"));
  return OkStatus();
}

void Loss::SetClassWeights(const config::JobConfig& job) {
  if (job.training().class_weight().empty()) return;
  const int64_t classes = HasVectorLabels(job.data())
                              ? VectorLabelClasses(job.loss(), job.data().label().size())
                              : job.data().num_classes();
  class_weights_.assign(static_cast<size_t>(classes), 1.0f);  // Keras: unlisted -> 1
  for (const auto& [id, weight] : job.training().class_weight()) {
    class_weights_[static_cast<size_t>(id)] = weight;
  }
}

bool Loss::ReadsTargetsOnHost(const Targets& targets, bool weighted) const {
  if (weighted) return true;
  if (kind_ == Kind::kSparseCrossEntropy) return false;
  return targets.is_class_ids() || label_smoothing_ > 0.0f;
}

StatusOr<Targets> Loss::HostTargets(kernels::KernelBackend& backend, const Targets& targets,
                                    int64_t rows) {
  Targets host = targets;
  if (targets.is_class_ids()) {
    host.class_ids = target_reads_.Read(backend, targets.class_ids, rows);
  } else {
    host.values = target_reads_.Read(backend, targets.values, rows * targets.width);
  }
  RETURN_IF_ERROR(target_reads_.Wait(backend));
  return host;
}

const float* Loss::TargetValues(kernels::KernelBackend& backend, const Targets& targets,
                                const Targets& host, int64_t rows) {
  // Keras: binary y (1 - s) + s / 2 (s = 0 for MSE); categorical y (1 - s) + s / size.
  const float keep = 1.0f - label_smoothing_;
  float* values = targets_.host_as<float>();
  if (targets.is_class_ids()) {
    const float shift = 0.5f * label_smoothing_;
    for (int64_t r = 0; r < rows; ++r) {
      values[r] = static_cast<float>(host.class_ids[r]) * keep + shift;
    }
    targets_.Upload(backend, rows * static_cast<int64_t>(sizeof(float)));
    return targets_.device_as<float>();
  }
  if (label_smoothing_ == 0.0f) return targets.values;
  const float shift = kind_ == Kind::kCategoricalCrossEntropy
                          ? label_smoothing_ / static_cast<float>(units_)
                          : 0.5f * label_smoothing_;
  for (int64_t i = 0; i < rows * units_; ++i) values[i] = host.values[i] * keep + shift;
  targets_.Upload(backend, rows * units_ * static_cast<int64_t>(sizeof(float)));
  return targets_.device_as<float>();
}

void Loss::FillRowWeights(kernels::KernelBackend& backend, const Targets& host, int64_t rows) {
  const int64_t classes = static_cast<int64_t>(class_weights_.size());
  float* weights = row_weights_.host_as<float>();
  for (int64_t r = 0; r < rows; ++r) {
    int64_t id = 0;  // Keras's class_weight_to_sample_weights
    if (host.is_class_ids()) {
      id = host.class_ids[r];
    } else if (host.width == 1) {  // np.round: half to even
      const float value = host.values[r];
      id = std::isfinite(value) ? static_cast<int64_t>(std::nearbyint(value)) : -1;
    } else {  // np.argmax: the first maximum
      const float* row = host.values + r * host.width;
      for (int64_t j = 1; j < host.width; ++j) {
        if (row[j] > row[id]) id = j;
      }
    }
    weights[r] = id >= 0 && id < classes ? class_weights_[static_cast<size_t>(id)] : 1.0f;
  }
  row_weights_.Upload(backend, rows * static_cast<int64_t>(sizeof(float)));
}

void Loss::ComputeUnweighted(kernels::KernelBackend& backend, const float* output,
                             const float* target_values, const int32_t* class_ids, int64_t rows,
                             float* grad, float grad_scale) {
  float* losses = losses_.floats();
  switch (kind_) {
    case Kind::kSparseCrossEntropy:
      backend.SparseSoftmaxCrossEntropyForward(output, class_ids, losses, rows, units_);
      if (grad != nullptr) {
        backend.SparseSoftmaxCrossEntropyBackward(output, class_ids, grad_scale, grad, rows,
                                                  units_);
      }
      break;
    case Kind::kCategoricalCrossEntropy:  // from logits (a skipped softmax, or linear)
      backend.SoftmaxCrossEntropyForward(output, target_values, losses, rows, units_);
      if (grad != nullptr) {
        backend.SoftmaxCrossEntropyBackward(output, target_values, grad_scale, grad, rows, units_);
      }
      break;
    case Kind::kMeanSquaredError:  // one unit with class ids: the target is the label's value
      backend.MeanSquaredErrorForward(output, target_values, losses, rows, units_);
      if (grad != nullptr) {
        backend.MeanSquaredErrorBackward(output, target_values, grad_scale, grad, rows, units_);
      }
      break;
    case Kind::kBinaryCrossEntropy:
      backend.BinaryCrossEntropyForward(output, target_values, from_logits_, losses, rows, units_);
      if (grad != nullptr) {
        backend.BinaryCrossEntropyBackward(output, target_values, from_logits_, grad_scale, grad,
                                           rows, units_);
      }
      break;
  }
}

StatusOr<double> Loss::Compute(kernels::KernelBackend& backend, const float* output,
                               const Targets& targets, int64_t rows, float* grad,
                               double grad_divisor) {
  const bool weighted = grad != nullptr && !class_weights_.empty();
  Targets host;
  if (ReadsTargetsOnHost(targets, weighted)) {
    ASSIGN_OR_RETURN(host, HostTargets(backend, targets, rows));
  }
  const float* values =
      kind_ == Kind::kSparseCrossEntropy ? nullptr : TargetValues(backend, targets, host, rows);
  ComputeUnweighted(backend, output, values, targets.class_ids, rows, grad,
                    static_cast<float>(1.0 / grad_divisor));
  if (weighted) {
    FillRowWeights(backend, host, rows);
    backend.ScaleRows(grad, row_weights_.device_as<float>(), rows, units_);
  }
  const float* losses = loss_reads_.Read(backend, losses_.floats(), rows);
  RETURN_IF_ERROR(loss_reads_.Wait(backend));
  const float* weights = weighted ? row_weights_.host_as<float>() : nullptr;
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const double loss = losses[r];
    sum += weighted ? loss * weights[r] : loss;
  }
  return sum;
}

}  // namespace shardtrain::loss
