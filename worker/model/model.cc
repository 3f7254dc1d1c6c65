// Model: Create (graph resolution, then one builder per layer; model_build.h),
// initialization, the kernel regularizers and BatchNormalization's moving
// statistics. Forward and Backward live in model_forward.cc and model_backward.cc.
#include "worker/model/model.h"

#include <unistd.h>

#include <cmath>

#include "common/logging.h"
#include "worker/model/model_build.h"

namespace shardtrain::model {
namespace {

// This machine's physical memory in bytes: the bound of the model's estimate.
double PhysicalMemoryBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 1e15;  // unknown: only absurd sizes fail
  return static_cast<double>(pages) * static_cast<double>(page_size);
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

// Sets what layer `layer` reads about its inputs into `context`, and the
// layer's gradient_below / in_features. `own_dropout_buffer[p]`: layer p's
// output is a dropout's buffer that nothing but p's consumers reads.
void DescribeInputs(const std::vector<Model::Layer>& built, const Shape& model_input,
                    const LayerGraph& graph, const std::vector<bool>& own_dropout_buffer,
                    LayerBuildContext* context, Model::Layer* layer) {
  context->input_shapes.clear();
  layer->gradient_below = false;
  for (int p : layer->inputs) {
    const bool model = p == Model::kModelInput;
    context->input_shapes.push_back(model ? model_input
                                          : built[static_cast<size_t>(p)].output_shape);
    if (!model) layer->gradient_below |= built[static_cast<size_t>(p)].passes_gradient;
  }
  context->input_shape = context->input_shapes[0];
  context->features = context->input_shape.num_elements();
  context->flat = context->input_shape.rank() == 1;
  context->gradient_needed_below = layer->gradient_below;
  const int first = layer->inputs[0];
  context->dropout_output_below = first != Model::kModelInput &&
                                  own_dropout_buffer[static_cast<size_t>(first)] &&
                                  graph.consumers[static_cast<size_t>(first)] == 1;
  layer->in_features = context->features;
}

// A custom layer is host code: refused on a backend whose memory the host cannot read.
Status CheckHostOnlyLayers(const std::vector<Model::Layer>& layers,
                           const kernels::KernelBackend& backend) {
  if (backend.host_reads_device_memory()) return OkStatus();
  for (const Model::Layer& layer : layers) {
    if (layer.kind != Model::LayerKind::kCustom) continue;
    return FailedPreconditionError("model: custom layer '" + layer.name + "' (" +
                                   layer.registered_name + ") runs on the host; use --device cpu");
  }
  return OkStatus();
}

// Builds every layer in order into `layers`.
Status BuildLayers(const config::ModelConfig& config, const LayerGraph& graph,
                   const Shape& model_input, LayerBuildContext* context,
                   std::vector<Model::Layer>* layers) {
  std::vector<bool> own_dropout_buffer(static_cast<size_t>(config.layers_size()), false);
  for (int i = 0; i < config.layers_size(); ++i) {
    const config::LayerConfig& spec = config.layers(i);
    Model::Layer layer;
    layer.index = static_cast<uint32_t>(i);
    layer.name = graph.names[static_cast<size_t>(i)];
    layer.inputs = graph.inputs[static_cast<size_t>(i)];
    layer.trainable = !spec.has_trainable() || spec.trainable();
    context->where = "model.layers[" + std::to_string(i) + "]";
    DescribeInputs(*layers, model_input, graph, own_dropout_buffer, context, &layer);
    RETURN_IF_ERROR(BuildLayer(spec, context, &layer));
    // Dropout (its own buffer or in place over one), and shape-only layers over one.
    const bool passes_buffer = layer.kind == Model::LayerKind::kFlatten ||
                               layer.kind == Model::LayerKind::kReshape ||
                               layer.kind == Model::LayerKind::kDropout;
    own_dropout_buffer[static_cast<size_t>(i)] =
        (layer.kind == Model::LayerKind::kDropout && layer.rate > 0.0f) ||
        (passes_buffer && context->dropout_output_below);
    layers->push_back(std::move(layer));
  }
  return OkStatus();
}

// The rules on the whole model once its layers are built.
Status CheckBuiltModel(const std::vector<Model::Layer>& layers, const ParameterStore& params) {
  if (layers.back().output_shape.rank() != 1) {
    return InvalidArgumentError("model: the output (layer '" + layers.back().name + "', shape " +
                                layers.back().output_shape.ToString() +
                                ") is not flat; add a flatten or dense layer");
  }
  if (params.num_variables() == 0) {
    return InvalidArgumentError("model: no layer has trainable variables; add a dense layer");
  }
  if (params.trainable_size() == 0) {
    return InvalidArgumentError(
        "model: every layer with weights is frozen (trainable: false), so training would change "
        "nothing; set trainable: true (or leave it out) on at least one layer, e.g. the new head");
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> Model::Create(const config::ModelConfig& config, int64_t max_batch,
                                               kernels::KernelBackend& backend) {
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
  context.backend = &backend;
  ASSIGN_OR_RETURN(const int64_t input_features, InputFeatures(config, &context));
  std::unique_ptr<Model> model(new Model());
  model->backend_ = &backend;
  model->max_batch_ = max_batch;
  model->input_size_ = input_features;
  model->input_name_ = config.input_name().empty() ? "input" : config.input_name();
  model->input_shape_ =
      Shape(std::vector<int64_t>(config.input_shape().begin(), config.input_shape().end()));
  ASSIGN_OR_RETURN(const LayerGraph graph, ResolveLayerGraph(config, model->input_name_));
  context.parameters = &model->parameters_;
  RETURN_IF_ERROR(BuildLayers(config, graph, model->input_shape_, &context, &model->layers_));
  RETURN_IF_ERROR(CheckBuiltModel(model->layers_, model->parameters_));
  RETURN_IF_ERROR(CheckHostOnlyLayers(model->layers_, backend));
  model->output_size_ = model->layers_.back().out_features;
  model->final_layer_ = model->FinalActivationLayer();
  RETURN_IF_ERROR(model->parameters_.Finalize(backend));
  model->layer_outputs_.assign(model->layers_.size(), nullptr);
  model->output_grads_.assign(model->layers_.size(), nullptr);
  ASSIGN_OR_RETURN(model->dropout_mask_,
                   backend.AllocateDevice(context.max_dropout_elements, "dropout mask"));
  const int64_t staging = model->HostStagingFloats();
  if (staging > 0) {
    ASSIGN_OR_RETURN(model->host_staging_,
                     backend.AllocatePinned(staging * static_cast<int64_t>(sizeof(float)),
                                            "model host staging"));
  }
  return model;
}

size_t Model::FinalActivationLayer() const {
  for (int i = static_cast<int>(layers_.size()) - 1; i >= 0;) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    if (layer.kind == LayerKind::kDropout || layer.kind == LayerKind::kFlatten) {
      i = layer.inputs[0];
      continue;
    }
    if (layer.kind == LayerKind::kDense || layer.kind == LayerKind::kActivation ||
        layer.kind == LayerKind::kConv2D) {
      return static_cast<size_t>(i);
    }
    break;
  }
  return static_cast<size_t>(-1);
}

const Model::Layer* Model::ActiveDropoutAfterFinalActivation() const {
  if (final_layer_ >= layers_.size()) return nullptr;
  for (int i = static_cast<int>(layers_.size()) - 1; i > static_cast<int>(final_layer_);) {
    const Layer& layer = layers_[static_cast<size_t>(i)];
    if (layer.kind == LayerKind::kDropout && layer.rate > 0.0f) return &layer;
    i = layer.inputs[0];
  }
  return nullptr;
}

kernels::Activation Model::final_activation() const {
  if (final_layer_ >= layers_.size()) return kernels::Activation::kLinear;
  return layers_[final_layer_].activation;
}

int64_t Model::final_activation_positions() const {
  if (final_layer_ >= layers_.size()) return 1;
  const Shape& shape = layers_[final_layer_].output_shape;
  return layers_[final_layer_].out_features / shape.dim(shape.rank() - 1);
}

void Model::Initialize(kernels::KernelBackend& backend, uint64_t seed) {
  for (const Layer& layer : layers_) {
    if (layer.kind == LayerKind::kCustom) {
      std::vector<float*> weights;
      for (int v : layer.custom_variables) weights.push_back(parameters_.param(v));
      layer.custom->Initialize(layer.in_features, weights);
    } else if (layer.kind == LayerKind::kDense) {
      backend.GlorotUniform(seed, static_cast<uint32_t>(layer.kernel_variable),
                            parameters_.param(layer.kernel_variable), layer.in_features,
                            layer.out_features);
    } else if (layer.kind == LayerKind::kConv2D) {
      const kernels::Conv2DGeometry& g = layer.window;
      const int64_t area = g.window_h * g.window_w;
      backend.GlorotUniformN(seed, static_cast<uint32_t>(layer.kernel_variable),
                             parameters_.param(layer.kernel_variable), area * g.in_c * g.out_c,
                             area * g.in_c, area * g.out_c);
    } else if (layer.kind == LayerKind::kBatchNormalization) {
      const int64_t channels = layer.channels;
      if (layer.scale) backend.Fill(parameters_.param(layer.gamma_variable), 1.0f, channels);
      if (layer.center) backend.Fill(parameters_.param(layer.beta_variable), 0.0f, channels);
      backend.Fill(parameters_.param(layer.moving_mean_variable), 0.0f, channels);
      backend.Fill(parameters_.param(layer.moving_variance_variable), 1.0f, channels);
    }
    if (layer.bias_variable >= 0) {
      backend.Fill(parameters_.param(layer.bias_variable), 0.0f,
                   parameters_.variable(layer.bias_variable).shape.num_elements());
    }
  }
}

namespace {

// Whether the layer adds a kernel_regularizer penalty (trainable Dense or Conv2D, l1 or l2 set).
bool Regularized(const Model::Layer& layer) {
  const bool has_kernel =
      layer.kind == Model::LayerKind::kDense || layer.kind == Model::LayerKind::kConv2D;
  return has_kernel && layer.trainable && (layer.l1 != 0 || layer.l2 != 0);
}

}  // namespace

double Model::RegularizationPenalty() const {
  double penalty = 0;
  for (const Layer& layer : layers_) {
    if (!Regularized(layer)) continue;
    const int64_t n = parameters_.variable(layer.kernel_variable).shape.num_elements();
    const float* w =
        HostView(parameters_.params() + parameters_.variable(layer.kernel_variable).offset, n, 0);
    double abs_sum = 0, square_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      abs_sum += std::fabs(static_cast<double>(w[i]));
      square_sum += static_cast<double>(w[i]) * w[i];
    }
    penalty += static_cast<double>(layer.l1) * abs_sum + static_cast<double>(layer.l2) * square_sum;
  }
  return penalty;
}

double Model::AddRegularizationGradients() {
  for (const Layer& layer : layers_) {
    if (!Regularized(layer)) continue;
    const int64_t n = parameters_.variable(layer.kernel_variable).shape.num_elements();
    const float* w = HostView(parameters_.param(layer.kernel_variable), n, 0);
    float* g = HostView(parameters_.grad(layer.kernel_variable), n, n);
    const float l1 = layer.l1, twice_l2 = 2.0f * layer.l2;
    for (int64_t i = 0; i < n; ++i) {
      const float sign = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
      g[i] += l1 * sign + twice_l2 * w[i];
    }
    WriteBack(parameters_.grad(layer.kernel_variable), g, n);
  }
  return RegularizationPenalty();
}

namespace {

bool KeepsMovingStatistics(const Model::Layer& layer) {
  return layer.kind == Model::LayerKind::kBatchNormalization && layer.trainable;
}

}  // namespace

bool Model::has_moving_statistics() const {
  for (const Layer& layer : layers_) {
    if (KeepsMovingStatistics(layer)) return true;
  }
  return false;
}

void Model::StoreBatchStatistics(float weight) {
  for (const Layer& layer : layers_) {
    if (!KeepsMovingStatistics(layer)) continue;
    const int64_t channels = layer.channels;
    float* mean = HostView(layer.batch_mean.floats(), channels, 0);
    float* variance = HostView(layer.batch_variance.floats(), channels, channels);
    float* mean_slot = parameters_.grad(layer.moving_mean_variable);
    float* variance_slot = parameters_.grad(layer.moving_variance_variable);
    // On the host-readable path the views are the moments themselves: write
    // the slots directly (the moments must stay for a later Backward).
    const bool in_place = backend_->host_reads_device_memory();
    float* mean_out = in_place ? mean_slot : mean;
    float* variance_out = in_place ? variance_slot : variance;
    for (int64_t c = 0; c < channels; ++c) {
      mean_out[c] = weight == 0.0f ? 0.0f : weight * mean[c];
      variance_out[c] = weight == 0.0f ? 0.0f : weight * variance[c];
    }
    WriteBack(mean_slot, mean_out, channels);
    WriteBack(variance_slot, variance_out, channels);
  }
}

void Model::UpdateMovingStatistics() {
  for (const Layer& layer : layers_) {
    if (!KeepsMovingStatistics(layer)) continue;
    for (int v : {layer.moving_mean_variable, layer.moving_variance_variable}) {
      float* moving = HostView(parameters_.param(v), layer.channels, 0);
      const float* batch = HostView(parameters_.grad(v), layer.channels, layer.channels);
      for (int64_t c = 0; c < layer.channels; ++c) {
        moving[c] = moving[c] * layer.momentum + batch[c] * (1.0f - layer.momentum);
      }
      WriteBack(parameters_.param(v), moving, layer.channels);
    }
  }
}

}  // namespace shardtrain::model
