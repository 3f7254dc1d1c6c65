#include "worker/model/model.h"

#include <cctype>
#include <cmath>
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

// What building one layer reads about the layers below it, and updates.
struct LayerBuildContext {
  std::string where;                   // "model.layers[i]", for errors
  int64_t features = 0;                // the layer's input features (one example, flattened)
  bool flat = false;                   // whether the input is (batch, features) already
  bool gradient_needed_below = false;  // a layer below has trainable variables
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
  // The output buffer, and the input gradient when a layer below needs it.
  void SizeBuffers(Model::Layer* layer) const {
    layer->output.resize(static_cast<size_t>(max_batch * layer->out_features));
    if (gradient_needed_below) {
      layer->grad_input.resize(static_cast<size_t>(max_batch * layer->in_features));
    }
  }
};

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
  layer->kernel_variable = context->parameters->AddVariable(
      layer->name + "/kernel", Shape{layer->in_features, layer->out_features}, layer->trainable);
  if (layer->use_bias) {
    layer->bias_variable = context->parameters->AddVariable(
        layer->name + "/bias", Shape{layer->out_features}, layer->trainable);
  }
  context->SizeBuffers(layer);
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
  context->SizeBuffers(layer);
  layer->mask.resize(static_cast<size_t>(context->max_batch * context->features));
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
  context->SizeBuffers(layer);
  return OkStatus();
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
  for (const auto& [weight, shape] : layer->custom->Weights(context->features)) {
    layer->custom_variables.push_back(
        context->parameters->AddVariable(layer->name + "/" + weight, shape, layer->trainable));
  }
  context->SizeBuffers(layer);
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
  for (const LayerKindEntry& entry : kLayerKinds) {
    if (entry.kind == spec.kind_case()) return entry.build(spec, context, layer);
  }
  std::string fields;
  for (const LayerKindEntry& entry : kLayerKinds) {
    fields += (fields.empty() ? "" : ", ") + std::string(entry.field);
  }
  return InvalidArgumentError(context->where + ": a layer needs one of " + fields);
}

// The features of one example: the product of input_shape, whose dims must be positive.
StatusOr<int64_t> InputFeatures(const config::ModelConfig& config) {
  int64_t features = 1;
  for (int i = 0; i < config.input_shape_size(); ++i) {
    if (config.input_shape(i) <= 0) {
      return InvalidArgumentError("model.input_shape[" + std::to_string(i) +
                                  "] must be positive, got " +
                                  std::to_string(config.input_shape(i)));
    }
    features *= config.input_shape(i);
  }
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
  ASSIGN_OR_RETURN(const int64_t input_features, InputFeatures(config));
  std::unique_ptr<Model> model(new Model());
  model->max_batch_ = max_batch;
  model->input_size_ = input_features;
  std::map<std::string, int> name_counts;
  LayerBuildContext context;
  context.features = input_features;
  context.flat = config.input_shape_size() == 1;
  context.max_batch = max_batch;
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
        backend.DenseForward(current, parameters_.param(layer.kernel_variable), bias,
                             layer.output.data(), batch, layer.in_features, layer.out_features);
        bool skip = skip_final_softmax && i == final_layer_ &&
                    layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation != kernels::Activation::kLinear && !skip) {
          backend.ActivationForward(layer.activation, layer.output.data(), layer.output.data(),
                                    batch, layer.out_features);
        }
        current = layer.output.data();
        break;
      }
      case LayerKind::kDropout:
        if (mode.training && layer.rate > 0.0f) {
          kernels::DropoutKey key{mode.seed, mode.step, layer.index,
                                  mode.first_example * static_cast<uint64_t>(layer.out_features)};
          backend.DropoutForward(key, layer.rate, current, layer.output.data(), layer.mask.data(),
                                 batch * layer.out_features);
          current = layer.output.data();
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
    if (!layer.trainable && layer.grad_input.empty() && layer.kind != LayerKind::kFlatten) break;
    switch (layer.kind) {
      case LayerKind::kDense: {
        bool fused = skipped_final_softmax && k == final_layer_ &&
                     layer.activation == kernels::Activation::kSoftmax;
        if (layer.activation != kernels::Activation::kLinear && !fused) {
          backend.ActivationBackward(layer.activation, layer.output.data(), grad, grad, batch,
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
        if (layer.grad_input.empty()) {
          grad = nullptr;
        } else if (layer.rate > 0.0f) {
          backend.DropoutBackward(layer.rate, layer.mask.data(), grad, layer.grad_input.data(),
                                  batch * layer.out_features);
          grad = layer.grad_input.data();
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
        backend.ActivationBackward(layer.activation, layer.output.data(), grad,
                                   layer.grad_input.data(), batch, layer.out_features);
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

}  // namespace shardtrain::model
