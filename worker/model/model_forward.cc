// Model::Forward: each layer in order, reading its inputs' outputs of this
// pass (layer_outputs_) and writing its own buffer; Flatten, Reshape, a
// linear Activation and an inactive Dropout pass their input's memory on.
#include "common/logging.h"
#include "worker/model/model.h"

namespace shardtrain::model {

const float* Model::InputOf(const Layer& layer, size_t which) const {
  const int producer = layer.inputs[which];
  return producer == kModelInput ? forward_input_ : layer_outputs_[static_cast<size_t>(producer)];
}

int64_t Model::InputChannels(const Layer& layer, size_t which) const {
  const int producer = layer.inputs[which];
  const Shape& shape =
      producer == kModelInput ? input_shape_ : layers_[static_cast<size_t>(producer)].output_shape;
  return shape.dim(shape.rank() - 1);
}

const float* Model::Forward(kernels::KernelBackend& backend, const float* x, int64_t batch,
                            const ForwardMode& mode, bool skip_final_softmax) {
  CHECK(batch > 0 && batch <= max_batch_)
      << "batch " << batch << " outside (0, " << max_batch_ << "]";
  forward_input_ = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layer_outputs_[i] = ForwardLayer(backend, i, batch, mode, skip_final_softmax);
  }
  return layer_outputs_.back();
}

const float* Model::ForwardLayer(kernels::KernelBackend& backend, size_t i, int64_t batch,
                                 const ForwardMode& mode, bool skip_final_softmax) {
  Layer& layer = layers_[i];
  const float* in = InputOf(layer, 0);
  // Only a softmax over the whole row is the one a fused loss applies.
  const bool skip_softmax =
      skip_final_softmax && i == final_layer_ && final_activation_positions() == 1;
  switch (layer.kind) {
    case LayerKind::kDense:
      return ForwardDense(backend, layer, in, batch, skip_softmax);
    case LayerKind::kDropout:
      return ForwardDropout(backend, layer, in, batch, mode);
    case LayerKind::kFlatten:
    case LayerKind::kReshape:
      return in;
    case LayerKind::kActivation:
      return ForwardActivation(backend, layer, in, batch, skip_softmax);
    case LayerKind::kCustom: {
      std::vector<const float*> weights;
      for (int v : layer.custom_variables) weights.push_back(parameters_.param(v));
      layer.custom->Forward(in, batch, layer.in_features, weights, layer.output.floats());
      return layer.output.floats();
    }
    case LayerKind::kConv2D:
      return ForwardConv2D(backend, layer, in, batch, skip_softmax);
    case LayerKind::kMaxPooling2D:
    case LayerKind::kAveragePooling2D:
    case LayerKind::kGlobalAveragePooling2D: {
      kernels::Conv2DGeometry g = layer.window;
      g.batch = batch;
      if (layer.kind == LayerKind::kMaxPooling2D) {
        backend.MaxPool2DForward(g, in, layer.output.floats());
      } else {
        backend.AvgPool2DForward(g, in, layer.output.floats());
      }
      return layer.output.floats();
    }
    case LayerKind::kBatchNormalization:
      return ForwardBatchNorm(backend, layer, in, batch, mode.training);
    case LayerKind::kAdd:
    case LayerKind::kConcatenate:
      return ForwardMerge(backend, layer, batch);
  }
  return in;
}

const float* Model::ForwardDense(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                 int64_t batch, bool skip_softmax) {
  const float* bias = layer.use_bias ? parameters_.param(layer.bias_variable) : nullptr;
  // GELU keeps x·w + b for its backward; the other activations work in place.
  float* affine =
      layer.pre_activation.empty() ? layer.output.floats() : layer.pre_activation.floats();
  backend.DenseForward(in, parameters_.param(layer.kernel_variable), bias, affine, batch,
                       layer.in_features, layer.out_features);
  const bool skip = skip_softmax && layer.activation == kernels::Activation::kSoftmax;
  if (layer.activation != kernels::Activation::kLinear && !skip) {
    backend.ActivationForward(layer.activation, affine, layer.output.floats(), batch,
                              layer.out_features);
  }
  return layer.output.floats();
}

const float* Model::ForwardDropout(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                   int64_t batch, const ForwardMode& mode) {
  if (!mode.training || layer.rate == 0.0f) return in;
  layer.dropout_key = {mode.seed, mode.step, layer.index,
                       mode.first_example * static_cast<uint64_t>(layer.out_features)};
  // In place: `in` is then the buffer of a dropout below, which only this layer reads.
  float* out = layer.output.empty() ? const_cast<float*>(in) : layer.output.floats();
  backend.DropoutForward(layer.dropout_key, layer.rate, in, out, dropout_mask_.as<uint8_t>(),
                         batch * layer.out_features);
  return out;
}

// Over the last axis: rows = batch * (features / last dim).
const float* Model::ForwardActivation(kernels::KernelBackend& backend, Layer& layer,
                                      const float* in, int64_t batch, bool skip_softmax) {
  const bool skip = skip_softmax && layer.activation == kernels::Activation::kSoftmax;
  if (layer.activation == kernels::Activation::kLinear || skip) return in;
  const int64_t last = layer.output_shape.dim(layer.output_shape.rank() - 1);
  backend.ActivationForward(layer.activation, in, layer.output.floats(),
                            batch * (layer.out_features / last), last);
  return layer.output.floats();
}

const float* Model::ForwardConv2D(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                  int64_t batch, bool skip_softmax) {
  kernels::Conv2DGeometry g = layer.window;
  g.batch = batch;
  const float* bias = layer.use_bias ? parameters_.param(layer.bias_variable) : nullptr;
  float* affine =
      layer.pre_activation.empty() ? layer.output.floats() : layer.pre_activation.floats();
  backend.Conv2DForward(g, in, parameters_.param(layer.kernel_variable), bias, affine);
  const bool skip = skip_softmax && layer.activation == kernels::Activation::kSoftmax;
  if (layer.activation != kernels::Activation::kLinear && !skip) {
    backend.ActivationForward(layer.activation, affine, layer.output.floats(),
                              batch * g.out_h * g.out_w, g.out_c);
  }
  return layer.output.floats();
}

// Training (a trainable layer in a training pass): the batch's moments (the
// global batch's when synchronized), kept for Backward and
// StoreBatchStatistics; otherwise the moving statistics.
const float* Model::ForwardBatchNorm(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                     int64_t batch, bool training) {
  const int64_t channels = layer.channels;
  const int64_t rows = batch * (layer.out_features / channels);
  const float* gamma = layer.scale ? parameters_.param(layer.gamma_variable) : nullptr;
  const float* beta = layer.center ? parameters_.param(layer.beta_variable) : nullptr;
  const float* mean = parameters_.param(layer.moving_mean_variable);
  const float* variance = parameters_.param(layer.moving_variance_variable);
  if (training && layer.trainable) {
    backend.BatchNormMoments(in, rows, channels, layer.batch_mean.floats(),
                             layer.batch_variance.floats());
    layer.global_rows = static_cast<double>(rows);
    if (layer.synchronized) SynchronizeMoments(layer, rows);
    mean = layer.batch_mean.floats();
    variance = layer.batch_variance.floats();
  }
  backend.BatchNormForward(in, mean, variance, gamma, beta, layer.epsilon, layer.output.floats(),
                           rows, channels);
  return layer.output.floats();
}

// Add: the inputs summed in order. Concatenate: each input's columns placed
// along the last axis.
const float* Model::ForwardMerge(kernels::KernelBackend& backend, Layer& layer, int64_t batch) {
  float* out = layer.output.floats();
  if (layer.kind == LayerKind::kAdd) {
    const int64_t n = batch * layer.out_features;
    backend.Add(InputOf(layer, 0), InputOf(layer, 1), out, n);
    for (size_t j = 2; j < layer.inputs.size(); ++j) backend.Add(out, InputOf(layer, j), out, n);
    return out;
  }
  const int64_t total = layer.output_shape.dim(layer.output_shape.rank() - 1);
  const int64_t rows = batch * (layer.out_features / total);
  int64_t offset = 0;
  for (size_t j = 0; j < layer.inputs.size(); ++j) {
    const int64_t cols = InputChannels(layer, j);
    backend.CopyColumnsInto(InputOf(layer, j), rows, cols, out, total, offset);
    offset += cols;
  }
  return out;
}

}  // namespace shardtrain::model
