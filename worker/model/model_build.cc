// The layer kind table, BuildLayer and the memory accounting the builders
// share (see model_build.h).
#include "worker/model/model_build.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace shardtrain::model {
namespace {

// Bytes per parameter: the value, its gradient and up to two optimizer slots.
constexpr double kBytesPerParameter = 16.0;

std::string GiB(double bytes) {
  char text[64];
  const double gib = bytes / (1024.0 * 1024.0 * 1024.0);
  std::snprintf(text, sizeof(text), gib < 100 ? "%.1f GiB" : "%.0f GiB", gib);
  return text;
}

// The one list of layer kinds: a new kind is a builder and an entry here.
constexpr LayerKindEntry kLayerKinds[] = {
    {config::LayerConfig::kDense, "dense", "dense", false, &BuildDense},
    {config::LayerConfig::kDropout, "dropout", "dropout", false, &BuildDropout},
    {config::LayerConfig::kFlatten, "flatten", "flatten", false, &BuildFlatten},
    {config::LayerConfig::kActivation, "activation", "activation", false, &BuildActivation},
    {config::LayerConfig::kCustom, "custom", "", false, &BuildCustom},
    {config::LayerConfig::kConv2D, "conv2d", "conv2d", false, &BuildConv2D},
    {config::LayerConfig::kMaxPooling2D, "max_pooling2d", "max_pooling2d", false,
     &BuildMaxPooling2D},
    {config::LayerConfig::kAveragePooling2D, "average_pooling2d", "average_pooling2d", false,
     &BuildAveragePooling2D},
    {config::LayerConfig::kGlobalAveragePooling2D, "global_average_pooling2d",
     "global_average_pooling2d", false, &BuildGlobalAveragePooling2D},
    {config::LayerConfig::kReshape, "reshape", "reshape", false, &BuildReshape},
    {config::LayerConfig::kBatchNormalization, "batch_normalization", "batch_normalization", false,
     &BuildBatchNormalization},
    {config::LayerConfig::kAdd, "add", "add", true, &BuildAdd},
    {config::LayerConfig::kConcatenate, "concatenate", "concatenate", true, &BuildConcatenate},
};

}  // namespace

const LayerKindEntry* FindLayerKind(config::LayerConfig::KindCase kind) {
  for (const LayerKindEntry& entry : kLayerKinds) {
    if (entry.kind == kind) return &entry;
  }
  return nullptr;
}

std::string LayerKindFields() {
  std::string fields;
  for (const LayerKindEntry& entry : kLayerKinds) {
    fields += (fields.empty() ? "" : ", ") + std::string(entry.field);
  }
  return fields;
}

Status BuildLayer(const config::LayerConfig& spec, LayerBuildContext* context,
                  Model::Layer* layer) {
  const LayerKindEntry* entry = FindLayerKind(spec.kind_case());
  if (entry == nullptr) {
    return InvalidArgumentError(context->where + ": a layer needs one of " + LayerKindFields());
  }
  const int variables_before = context->parameters->num_variables();
  RETURN_IF_ERROR(entry->build(spec, context, layer));
  layer->out_features = layer->output_shape.num_elements();
  bool trains = false;
  for (int v = variables_before; v < context->parameters->num_variables(); ++v) {
    trains = trains || context->parameters->variable(v).trainable;
  }
  layer->passes_gradient = trains || layer->gradient_below;
  return OkStatus();
}

Status LayerBuildContext::Reserve(double more, const std::string& what) {
  bytes += more;
  if (bytes <= memory_limit) return OkStatus();
  return ResourceExhaustedError(what + ": the model would need about " + GiB(bytes) +
                                " of memory (batches of up to " + std::to_string(max_batch) +
                                " rows), more than this machine's " + GiB(memory_limit));
}

Status LayerBuildContext::SizeBatchBuffer(const Model::Layer& layer, int64_t per_example,
                                          const char* what, kernels::DeviceBuffer* buffer) {
  const double floats = static_cast<double>(max_batch) * static_cast<double>(per_example);
  RETURN_IF_ERROR(Reserve(4.0 * floats, Where(layer)));
  return Allocate(layer, max_batch * per_example, what, buffer);
}

Status LayerBuildContext::Allocate(const Model::Layer& layer, int64_t floats, const char* what,
                                   kernels::DeviceBuffer* buffer) {
  ASSIGN_OR_RETURN(*buffer, backend->AllocateDevice(floats * static_cast<int64_t>(sizeof(float)),
                                                    layer.name + " " + what));
  if (floats > 0) backend->Fill(buffer->floats(), 0.0f, floats);
  return OkStatus();
}

Status LayerBuildContext::SizeBuffers(Model::Layer* layer) {
  const double rows = static_cast<double>(max_batch);
  const int64_t out_features = layer->output_shape.num_elements();
  double floats = rows * static_cast<double>(out_features);
  if (gradient_needed_below) floats += rows * static_cast<double>(layer->in_features);
  RETURN_IF_ERROR(Reserve(4.0 * floats, Where(*layer)));
  RETURN_IF_ERROR(Allocate(*layer, max_batch * out_features, "output", &layer->output));
  if (!gradient_needed_below) return OkStatus();
  return Allocate(*layer, max_batch * layer->in_features, "input gradient", &layer->grad_input);
}

Status LayerBuildContext::ReserveParameters(double count, const Model::Layer& layer) {
  return Reserve(kBytesPerParameter * count, Where(layer));
}

StatusOr<kernels::Activation> ToKernelActivation(config::Activation activation,
                                                 const std::string& layer) {
  switch (activation) {
    case config::ACTIVATION_UNSPECIFIED:
    case config::LINEAR:
      return kernels::Activation::kLinear;
    case config::RELU:
      return kernels::Activation::kRelu;
    case config::SIGMOID:
      return kernels::Activation::kSigmoid;
    case config::TANH:
      return kernels::Activation::kTanh;
    case config::SOFTMAX:
      return kernels::Activation::kSoftmax;
    case config::GELU:
      return kernels::Activation::kGelu;
    case config::GELU_APPROXIMATE:
      return kernels::Activation::kGeluTanh;
    default:
      break;
  }
  return InvalidArgumentError("model.layers '" + layer + "': unsupported activation " +
                              std::to_string(static_cast<int>(activation)));
}

Status ReadRegularizer(const config::Regularizer& regularizer, const std::string& where,
                       const std::string& field, Model::Layer* layer) {
  for (const float factor : {regularizer.l1(), regularizer.l2()}) {
    if (!(std::isfinite(factor) && factor >= 0.0f)) {
      return InvalidArgumentError(
          where + ": " + field + " l1 and l2 must be finite and >= 0, got l1 " +
          std::to_string(regularizer.l1()) + ", l2 " + std::to_string(regularizer.l2()));
    }
  }
  layer->l1 = regularizer.l1();
  layer->l2 = regularizer.l2();
  return OkStatus();
}

std::string SnakeCase(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      out += c;
    }
  }
  return out;
}

}  // namespace shardtrain::model
