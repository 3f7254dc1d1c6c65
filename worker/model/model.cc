#include "worker/model/model.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "common/logging.h"

namespace shardtrain::model {
namespace {

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

// Keras's snake_case of a class name: "MyScale" → "my_scale".
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

// Bytes per parameter: the value, its gradient and up to two optimizer slots.
constexpr double kBytesPerParameter = 16.0;

// This machine's physical memory in bytes: the bound of the model's estimate.
double PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 1e15;  // unknown: only absurd sizes fail
  return static_cast<double>(pages) * static_cast<double>(page_size);
}

std::string GiB(double bytes) {
  char text[64];
  const double gib = bytes / (1024.0 * 1024.0 * 1024.0);
  std::snprintf(text, sizeof(text), gib < 100 ? "%.1f GiB" : "%.0f GiB", gib);
  return text;
}

// What building one layer reads about the layers below it, and updates.
struct LayerBuildContext {
  std::string where;                   // "model.layers[i]", for errors
  int64_t features = 0;                // the layer's input features (one example, flattened)
  bool flat = false;                   // whether the input is (batch, features) already
  bool gradient_needed_below = false;  // a layer below has trainable variables
  bool dropout_output_below = false;   // the input is a dropout's own buffer (free to overwrite)
  int64_t max_dropout_elements = 0;    // the largest dropout input, for the shared mask
  double bytes = 0;                    // the memory estimate so far
  double memory_limit = 0;
  int64_t max_batch = 0;
  ParameterStore* parameters = nullptr;
  std::map<std::string, int>* name_counts = nullptr;  // Keras name counters by base name

  // The configured name, else Keras's: base, base_1, base_2... per `counter_key`.
  std::string Name(const config::LayerConfig& spec, const std::string& base,
                   const std::string& counter_key) const {
    if (!spec.name().empty()) return spec.name();
    int& counter = (*name_counts)[counter_key];
    std::string name = counter == 0 ? base : base + "_" + std::to_string(counter);
    ++counter;
    return name;
  }
  // "model.layers[i] ('name')".
  std::string Where(const Model::Layer& layer) const { return where + " ('" + layer.name + "')"; }
  // Adds `more` bytes to the estimate, computed in double so that no size
  // overflows; ResourceExhausted naming `what` once it passes the machine's memory.
  Status Reserve(double more, const std::string& what) {
    bytes += more;
    if (bytes <= memory_limit) return OkStatus();
    return ResourceExhaustedError(what + ": the model would need about " + GiB(bytes) +
                                  " of memory (batches of up to " + std::to_string(max_batch) +
                                  " rows), more than this machine's " + GiB(memory_limit));
  }
  // Checks then sizes the output buffer, and the input gradient when a layer below needs it.
  Status SizeBuffers(Model::Layer* layer) {
    const double rows = static_cast<double>(max_batch);
    double floats = rows * static_cast<double>(layer->out_features);
    if (gradient_needed_below) floats += rows * static_cast<double>(layer->in_features);
    RETURN_IF_ERROR(Reserve(4.0 * floats, Where(*layer)));
    layer->output.resize(static_cast<size_t>(max_batch * layer->out_features));
    if (gradient_needed_below) {
      layer->grad_input.resize(static_cast<size_t>(max_batch * layer->in_features));
    }
    return OkStatus();
  }
  // Checks the memory of `count` parameters before they are added.
  Status ReserveParameters(double count, const Model::Layer& layer) {
    return Reserve(kBytesPerParameter * count, Where(layer));
  }
};

// Keras's L1/L2/L1L2 factors of a Dense kernel; both finite and >= 0.
Status ReadRegularizer(const config::Regularizer& regularizer, const std::string& where,
                       Model::Layer* layer) {
  for (const float factor : {regularizer.l1(), regularizer.l2()}) {
    if (!(std::isfinite(factor) && factor >= 0.0f)) {
      return InvalidArgumentError(where +
                                  ": dense.kernel_regularizer l1 and l2 must be finite and "
                                  ">= 0, got l1 " +
                                  std::to_string(regularizer.l1()) + ", l2 " +
                                  std::to_string(regularizer.l2()));
    }
  }
  layer->l1 = regularizer.l1();
  layer->l2 = regularizer.l2();
  return OkStatus();
}

// Fills `layer` (kind, name, out_features, variables, buffers) from its
// config and updates `context` for the layer above. One per layer kind.
using LayerBuilder = Status (*)(const config::LayerConfig& spec, LayerBuildContext* context,
                                Model::Layer* layer);

Status BuildDense(const config::LayerConfig& spec, LayerBuildContext* context,
                  Model::Layer* layer) {
  layer->kind = Model::LayerKind::kDense;
  layer->name = context->Name(spec, "dense", "dense");
  if (!context->flat) {
    return InvalidArgumentError(context->Where(*layer) +
                                ": Dense needs a flat input; add `layers { flatten {} }` "
                                "before it");
  }
  if (spec.dense().units() <= 0) {
    return InvalidArgumentError(context->Where(*layer) + ": dense.units must be positive, got " +
                                std::to_string(spec.dense().units()));
  }
  layer->out_features = spec.dense().units();
  ASSIGN_OR_RETURN(layer->activation, ToKernelActivation(spec.dense().activation(), layer->name));
  layer->use_bias = !spec.dense().has_use_bias() || spec.dense().use_bias();
  RETURN_IF_ERROR(
      ReadRegularizer(spec.dense().kernel_regularizer(), context->Where(*layer), layer));
  const double in = static_cast<double>(layer->in_features);
  const double out = static_cast<double>(layer->out_features);
  RETURN_IF_ERROR(context->ReserveParameters(in * out + (layer->use_bias ? out : 0.0), *layer));
  if (kernels::BackwardTakesInput(layer->activation)) {
    RETURN_IF_ERROR(context->Reserve(4.0 * out * static_cast<double>(context->max_batch),
                                     context->Where(*layer)));
    layer->pre_activation.resize(static_cast<size_t>(context->max_batch * layer->out_features));
  }
  layer->kernel_variable = context->parameters->AddVariable(
      layer->name + "/kernel", Shape{layer->in_features, layer->out_features}, layer->trainable);
  if (layer->use_bias) {
    layer->bias_variable = context->parameters->AddVariable(
        layer->name + "/bias", Shape{layer->out_features}, layer->trainable);
  }
  RETURN_IF_ERROR(context->SizeBuffers(layer));
  if (layer->trainable) context->gradient_needed_below = true;
  return OkStatus();
}

Status BuildDropout(const config::LayerConfig& spec, LayerBuildContext* context,
                    Model::Layer* layer) {
  layer->kind = Model::LayerKind::kDropout;
  layer->name = context->Name(spec, "dropout", "dropout");
  const float rate = spec.dropout().rate();
  if (!(rate >= 0.0f && rate < 1.0f)) {
    return InvalidArgumentError(context->Where(*layer) + ": dropout.rate must be in [0, 1), got " +
                                std::to_string(rate));
  }
  layer->rate = rate;
  layer->out_features = context->features;
  if (rate == 0.0f) return OkStatus();  // the identity: no buffer, no mask
  const double elements =
      static_cast<double>(context->max_batch) * static_cast<double>(context->features);
  if (!context->dropout_output_below) {  // else it works in place over that dropout's output
    RETURN_IF_ERROR(context->Reserve(4.0 * elements, context->Where(*layer)));
    layer->output.resize(static_cast<size_t>(context->max_batch * context->features));
  }
  const int64_t mask_elements = context->max_batch * context->features;
  if (mask_elements > context->max_dropout_elements) {
    RETURN_IF_ERROR(
        context->Reserve(static_cast<double>(mask_elements - context->max_dropout_elements),
                         context->Where(*layer)));
    context->max_dropout_elements = mask_elements;
  }
  context->dropout_output_below = true;
  return OkStatus();
}

Status BuildFlatten(const config::LayerConfig& spec, LayerBuildContext* context,
                    Model::Layer* layer) {
  layer->kind = Model::LayerKind::kFlatten;
  layer->name = context->Name(spec, "flatten", "flatten");
  layer->out_features = context->features;
  context->flat = true;
  return OkStatus();
}

Status BuildActivation(const config::LayerConfig& spec, LayerBuildContext* context,
                       Model::Layer* layer) {
  layer->kind = Model::LayerKind::kActivation;
  layer->name = context->Name(spec, "activation", "activation");
  if (!context->flat) {
    return InvalidArgumentError(context->Where(*layer) +
                                ": Activation needs a flat input; add a flatten before it");
  }
  ASSIGN_OR_RETURN(layer->activation,
                   ToKernelActivation(spec.activation().activation(), layer->name));
  layer->out_features = context->features;
  return context->SizeBuffers(layer);
}

// A registered class (layer_registry.h), named Keras-style after its class:
// "my_pkg>MyScale" -> my_scale, my_scale_1...
Status BuildCustom(const config::LayerConfig& spec, LayerBuildContext* context,
                   Model::Layer* layer) {
  layer->kind = Model::LayerKind::kCustom;
  const config::CustomLayer& custom = spec.custom();
  layer->registered_name = custom.registered_name();
  const size_t separator = custom.registered_name().find('>');
  const std::string class_name =
      custom.registered_name().substr(separator == std::string::npos ? 0 : separator + 1);
  // Counted apart from the built-in kinds, per class.
  layer->name = context->Name(spec, SnakeCase(class_name), "custom:" + class_name);
  if (!context->flat) {
    return InvalidArgumentError(context->Where(*layer) +
                                ": custom layers take a flat input; add a flatten first");
  }
  auto created = CreateCustomLayer(custom.registered_name(),
                                   custom.config_json().empty() ? "{}" : custom.config_json());
  if (!created.ok()) return created.status().WithContext(context->Where(*layer));
  layer->custom = std::move(*created);
  auto out = layer->custom->OutputSize(context->features);
  if (!out.ok()) return out.status().WithContext(context->Where(*layer));
  layer->out_features = *out;
  const auto weights = layer->custom->Weights(context->features);
  double parameters = 0;
  for (const auto& [weight, shape] : weights) {
    parameters += static_cast<double>(shape.num_elements());
  }
  RETURN_IF_ERROR(context->ReserveParameters(parameters, *layer));
  for (const auto& [weight, shape] : weights) {
    layer->custom_variables.push_back(
        context->parameters->AddVariable(layer->name + "/" + weight, shape, layer->trainable));
  }
  RETURN_IF_ERROR(context->SizeBuffers(layer));
  if (layer->trainable && !layer->custom_variables.empty()) context->gradient_needed_below = true;
  return OkStatus();
}

struct LayerKindEntry {
  config::LayerConfig::KindCase kind;
  const char* field;  // the LayerConfig field, for errors
  LayerBuilder build;
};

// The one list of layer kinds: a new kind is a builder above and an entry here.
constexpr LayerKindEntry kLayerKinds[] = {
    {config::LayerConfig::kDense, "dense", &BuildDense},
    {config::LayerConfig::kDropout, "dropout", &BuildDropout},
    {config::LayerConfig::kFlatten, "flatten", &BuildFlatten},
    {config::LayerConfig::kActivation, "activation", &BuildActivation},
    {config::LayerConfig::kCustom, "custom", &BuildCustom},
};

Status BuildLayer(const config::LayerConfig& spec, LayerBuildContext* context,
                  Model::Layer* layer) {
  layer->trainable = !spec.has_trainable() || spec.trainable();
  layer->gradient_below = context->gradient_needed_below;
  for (const LayerKindEntry& entry : kLayerKinds) {
    if (entry.kind != spec.kind_case()) continue;
    RETURN_IF_ERROR(entry.build(spec, context, layer));
    // Dropout and flatten pass a dropout's buffer on; any other layer writes its own.
    if (layer->kind != Model::LayerKind::kDropout && layer->kind != Model::LayerKind::kFlatten) {
      context->dropout_output_below = false;
    }
    return OkStatus();
  }
  std::string fields;
  for (const LayerKindEntry& entry : kLayerKinds) {
    fields += (fields.empty() ? "" : ", ") + std::string(entry.field);
  }
  return InvalidArgumentError(context->where + ": a layer needs one of " + fields);
}

// The features of one example: the product of input_shape, whose dims must
// be positive. Reserves the input batch in `context` before multiplying in int64.
StatusOr<int64_t> InputFeatures(const config::ModelConfig& config, LayerBuildContext* context) {
  double product = 1;
  for (int i = 0; i < config.input_shape_size(); ++i) {
    if (config.input_shape(i) <= 0) {
      return InvalidArgumentError("model.input_shape[" + std::to_string(i) +
                                  "] must be positive, got " +
                                  std::to_string(config.input_shape(i)));
    }
    product *= static_cast<double>(config.input_shape(i));
  }
  RETURN_IF_ERROR(context->Reserve(4.0 * product * static_cast<double>(context->max_batch),
                                   "model.input_shape"));
  int64_t features = 1;
  for (int64_t dim : config.input_shape()) features *= dim;
  return features;
}

}  // namespace

StatusOr<std::unique_ptr<Model>> Model::Create(const config::ModelConfig& config,
                                               int64_t max_batch) {
  if (max_batch <= 0) return InvalidArgumentError("max_batch must be positive");
  if (config.input_shape_size() == 0) {
    return InvalidArgumentError(
        "model.input_shape is empty: give the shape of one example, "
        "e.g. input_shape: [28, 28]");
  }
  if (config.layers_size() == 0) return InvalidArgumentError("model.layers is empty");
  LayerBuildContext context;
  context.max_batch = max_batch;
  context.memory_limit = PhysicalMemoryBytes();
  ASSIGN_OR_RETURN(const int64_t input_features, InputFeatures(config, &context));
  std::unique_ptr<Model> model(new Model());
  model->max_batch_ = max_batch;
  model->input_size_ = input_features;
  std::map<std::string, int> name_counts;
  context.features = input_features;
  context.flat = config.input_shape_size() == 1;
  context.parameters = &model->parameters_;
  context.name_counts = &name_counts;
  for (int i = 0; i < config.layers_size(); ++i) {
    Layer layer;
    layer.index = static_cast<uint32_t>(i);
    layer.in_features = context.features;
    context.where = "model.layers[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(BuildLayer(config.layers(i), &context, &layer));
    context.features = layer.out_features;
    model->layers_.push_back(std::move(layer));
  }
  if (!context.flat) {
    return InvalidArgumentError("model: the output is not flat; add a flatten or dense layer");
  }
  if (model->parameters_.num_variables() == 0) {
    return InvalidArgumentError("model: no layer has trainable variables; add a dense layer");
  }
  if (model->parameters_.trainable_size() == 0) {
    return InvalidArgumentError(
        "model: every layer with weights is frozen (trainable: false), so training would change "
        "nothing; set trainable: true (or leave it out) on at least one layer, e.g. the new head");
  }
  model->output_size_ = context.features;
  model->final_layer_ = model->FinalActivationLayer();
  model->parameters_.Finalize();
  model->layer_inputs_.assign(model->layers_.size(), nullptr);
  model->dropout_mask_.resize(static_cast<size_t>(context.max_dropout_elements));
  return model;
}

size_t Model::FinalActivationLayer() const {
  for (size_t i = layers_.size(); i-- > 0;) {
    const LayerKind kind = layers_[i].kind;
    if (kind == LayerKind::kDropout || kind == LayerKind::kFlatten) continue;
    if (kind == LayerKind::kDense || kind == LayerKind::kActivation) return i;
    break;
  }
  return static_cast<size_t>(-1);
}

kernels::Activation Model::final_activation() const {
  if (final_layer_ >= layers_.size()) return kernels::Activation::kLinear;
  return layers_[final_layer_].activation;
}

void Model::Initialize(kernels::KernelBackend& backend, uint64_t seed) {
  for (const Layer& layer : layers_) {
    if (layer.kind == LayerKind::kCustom) {
      std::vector<float*> weights;
      for (int v : layer.custom_variables) weights.push_back(parameters_.param(v));
      layer.custom->Initialize(layer.in_features, weights);
      continue;
    }
    if (layer.kind != LayerKind::kDense) continue;
    backend.GlorotUniform(seed, static_cast<uint32_t>(layer.kernel_variable),
                          parameters_.param(layer.kernel_variable), layer.in_features,
                          layer.out_features);
    if (layer.use_bias) {
      backend.Fill(parameters_.param(layer.bias_variable), 0.0f, layer.out_features);
    }
  }
}

const float* Model::Forward(kernels::KernelBackend& backend, const float* x, int64_t batch,
                            const ForwardMode& mode, bool skip_final_softmax) {
  CHECK(batch > 0 && batch <= max_batch_)
      << "batch " << batch << " outside (0, " << max_batch_ << "]";
  const float* current = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = layers_[i];
    layer_inputs_[i] = current;
    switch (layer.kind) {
      case LayerKind::kDense: {
        const float* bias = layer.use_bias ? parameters_.param(layer.bias_variable) : nullptr;
        // GELU keeps x·w + b for its backward; the other activations work in place.
        float* affine =
            layer.pre_activation.empty() ? layer.output.data() : layer.pre_activation.data();
        backend.DenseForward(current, parameters_.param(layer.kernel_variable), bias, affine, batch,
                             layer.in_features, layer.out_features);
        bool skip = skip_final_softmax && i == final_layer_ &&
                    layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation != kernels::Activation::kLinear && !skip) {
          backend.ActivationForward(layer.activation, affine, layer.output.data(), batch,
                                    layer.out_features);
        }
        current = layer.output.data();
        break;
      }
      case LayerKind::kDropout:
        if (mode.training && layer.rate > 0.0f) {
          layer.dropout_key = {mode.seed, mode.step, layer.index,
                               mode.first_example * static_cast<uint64_t>(layer.out_features)};
          // In place: `current` is then the buffer of the dropout below (our memory).
          float* out = layer.output.empty() ? const_cast<float*>(current) : layer.output.data();
          backend.DropoutForward(layer.dropout_key, layer.rate, current, out, dropout_mask_.data(),
                                 batch * layer.out_features);
          current = out;
        }
        break;
      case LayerKind::kFlatten:
        break;
      case LayerKind::kActivation: {
        bool skip = skip_final_softmax && i == final_layer_ &&
                    layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation != kernels::Activation::kLinear && !skip) {
          backend.ActivationForward(layer.activation, current, layer.output.data(), batch,
                                    layer.out_features);
          current = layer.output.data();
        }
        break;
      }
      case LayerKind::kCustom: {
        std::vector<const float*> weights;
        for (int v : layer.custom_variables) weights.push_back(parameters_.param(v));
        layer.custom->Forward(current, batch, layer.in_features, weights, layer.output.data());
        current = layer.output.data();
        break;
      }
    }
  }
  return current;
}

void Model::Backward(kernels::KernelBackend& backend, const float* x, float* grad_output,
                     int64_t batch, bool skipped_final_softmax) {
  (void)x;                    // the first layer's input was recorded by Forward
  float* grad = grad_output;  // d(loss)/d(output of layer i), overwritten in place
  for (size_t k = layers_.size(); k-- > 0;) {
    Layer& layer = layers_[k];
    // A frozen layer with nothing trainable before it (its grad_input is unsized;
    // flatten has none at all): no gradient is needed from here down.
    if (!layer.trainable && !layer.gradient_below) break;
    switch (layer.kind) {
      case LayerKind::kDense: {
        bool fused = skipped_final_softmax && k == final_layer_ &&
                     layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation != kernels::Activation::kLinear && !fused) {
          const float* through = kernels::BackwardTakesInput(layer.activation)
                                     ? layer.pre_activation.data()
                                     : layer.output.data();
          backend.ActivationBackward(layer.activation, through, grad, grad, batch,
                                     layer.out_features);
        }
        float* grad_input = layer.grad_input.empty() ? nullptr : layer.grad_input.data();
        float* bias_grad = layer.use_bias ? parameters_.grad(layer.bias_variable) : nullptr;
        backend.DenseBackward(layer_inputs_[k], parameters_.param(layer.kernel_variable), grad,
                              grad_input, parameters_.grad(layer.kernel_variable), bias_grad, batch,
                              layer.in_features, layer.out_features);
        grad = grad_input;
        break;
      }
      case LayerKind::kDropout:
        if (!layer.gradient_below) {
          grad = nullptr;
        } else if (layer.rate > 0.0f) {
          // Drawing the forward's mask again over dy gives dy * mask / (1 - rate),
          // bit for bit what DropoutBackward computes from a stored mask.
          backend.DropoutForward(layer.dropout_key, layer.rate, grad, grad, dropout_mask_.data(),
                                 batch * layer.out_features);
        }
        break;
      case LayerKind::kFlatten:
        break;
      case LayerKind::kActivation: {
        bool fused = skipped_final_softmax && k == final_layer_ &&
                     layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation == kernels::Activation::kLinear || fused) break;  // identity
        if (layer.grad_input.empty()) {
          grad = nullptr;
          break;
        }
        const float* through =
            kernels::BackwardTakesInput(layer.activation) ? layer_inputs_[k] : layer.output.data();
        backend.ActivationBackward(layer.activation, through, grad, layer.grad_input.data(), batch,
                                   layer.out_features);
        grad = layer.grad_input.data();
        break;
      }
      case LayerKind::kCustom: {
        std::vector<const float*> weights;
        std::vector<float*> weight_grads;
        for (int v : layer.custom_variables) {
          weights.push_back(parameters_.param(v));
          weight_grads.push_back(parameters_.grad(v));
        }
        float* grad_input = layer.grad_input.empty() ? nullptr : layer.grad_input.data();
        layer.custom->Backward(layer_inputs_[k], layer.output.data(), grad, batch,
                               layer.in_features, weights, grad_input, weight_grads);
        grad = grad_input;
        break;
      }
    }
    if (grad == nullptr) break;  // nothing below needs a gradient
  }
}

double Model::RegularizationPenalty() const {
  double penalty = 0;
  for (const Layer& layer : layers_) {
    if (layer.kind != LayerKind::kDense || !layer.trainable || (layer.l1 == 0 && layer.l2 == 0)) {
      continue;
    }
    const float* w = parameters_.params() + parameters_.variable(layer.kernel_variable).offset;
    double abs_sum = 0, square_sum = 0;
    for (int64_t i = 0; i < layer.in_features * layer.out_features; ++i) {
      abs_sum += std::fabs(static_cast<double>(w[i]));
      square_sum += static_cast<double>(w[i]) * w[i];
    }
    penalty += static_cast<double>(layer.l1) * abs_sum + static_cast<double>(layer.l2) * square_sum;
  }
  return penalty;
}

double Model::AddRegularizationGradients() {
  for (const Layer& layer : layers_) {
    if (layer.kind != LayerKind::kDense || !layer.trainable || (layer.l1 == 0 && layer.l2 == 0)) {
      continue;
    }
    const float* w = parameters_.param(layer.kernel_variable);
    float* g = parameters_.grad(layer.kernel_variable);
    const float l1 = layer.l1, twice_l2 = 2.0f * layer.l2;
    for (int64_t i = 0; i < layer.in_features * layer.out_features; ++i) {
      const float sign = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
      g[i] += l1 * sign + twice_l2 * w[i];
    }
  }
  return RegularizationPenalty();
}

}  // namespace shardtrain::model
