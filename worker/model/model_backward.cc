// Model::Backward: the layers in reverse order. Each layer's output gradient
// is its own to overwrite: the caller's grad_output for the last layer, else
// a buffer a consumer handed over (GiveGradient), a second consumer's gradient
// being added into the first. A layer hands gradients only to inputs that pass
// one (Layer::passes_gradient); a layer that gets none is skipped.
#include <algorithm>

#include "worker/model/model.h"

namespace shardtrain::model {

void Model::Backward(kernels::KernelBackend& backend, const float* x, float* grad_output,
                     int64_t batch, bool skipped_final_softmax) {
  (void)x;  // the input of the last Forward is recorded
  std::fill(output_grads_.begin(), output_grads_.end(), nullptr);
  output_grads_.back() = grad_output;
  for (size_t k = layers_.size(); k-- > 0;) {
    const Layer& layer = layers_[k];
    float* dy = output_grads_[k];
    // No gradient arrived, or a frozen layer with nothing trainable before it.
    if (dy == nullptr || (!layer.trainable && !layer.gradient_below)) {
      // Other ranks sum this layer's gradient sums: join them with zeros.
      if (SynchronizesGradSums(layer)) SynchronizeGradSums(layers_[k], nullptr, nullptr);
      continue;
    }
    BackwardLayer(backend, k, dy, batch, skipped_final_softmax);
  }
}

void Model::GiveGradient(kernels::KernelBackend& backend, int producer, float* grad,
                         int64_t batch) {
  if (producer == kModelInput || grad == nullptr) return;
  const Layer& layer = layers_[static_cast<size_t>(producer)];
  if (!layer.passes_gradient) return;
  float*& slot = output_grads_[static_cast<size_t>(producer)];
  if (slot == nullptr) {
    slot = grad;
  } else {
    backend.Add(slot, grad, slot, batch * layer.out_features);
  }
}

void Model::BackwardLayer(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                          bool skipped_final_softmax) {
  Layer& layer = layers_[k];
  const bool fused = skipped_final_softmax && k == final_layer_ &&
                     final_activation_positions() == 1 &&
                     layer.activation == kernels::Activation::kSoftmax;
  switch (layer.kind) {
    case LayerKind::kDense:
      return BackwardDense(backend, k, dy, batch, fused);
    case LayerKind::kDropout:
      if (!layer.gradient_below) return;
      if (layer.rate > 0.0f) {
        // Drawing the forward's mask again over dy gives dy * mask / (1 - rate),
        // bit for bit what DropoutBackward computes from a stored mask.
        backend.DropoutForward(layer.dropout_key, layer.rate, dy, dy, dropout_mask_.as<uint8_t>(),
                               batch * layer.out_features);
      }
      return GiveGradient(backend, layer.inputs[0], dy, batch);
    case LayerKind::kFlatten:
    case LayerKind::kReshape:
      return GiveGradient(backend, layer.inputs[0], dy, batch);
    case LayerKind::kActivation:
      return BackwardActivation(backend, k, dy, batch, fused);
    case LayerKind::kCustom:
      return BackwardCustom(backend, k, dy, batch);
    case LayerKind::kConv2D:
      return BackwardConv2D(backend, k, dy, batch, fused);
    case LayerKind::kMaxPooling2D:
    case LayerKind::kAveragePooling2D:
    case LayerKind::kGlobalAveragePooling2D:
      return BackwardPooling(backend, k, dy, batch);
    case LayerKind::kBatchNormalization:
      return BackwardBatchNorm(backend, k, dy, batch);
    case LayerKind::kAdd:
    case LayerKind::kConcatenate:
      return BackwardMerge(backend, k, dy, batch);
  }
}

void Model::BackwardDense(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                          bool fused) {
  Layer& layer = layers_[k];
  if (layer.activation != kernels::Activation::kLinear && !fused) {
    const float* through = kernels::BackwardTakesInput(layer.activation)
                               ? layer.pre_activation.floats()
                               : layer.output.floats();
    backend.ActivationBackward(layer.activation, through, dy, dy, batch, layer.out_features);
  }
  float* grad_input = layer.grad_input.empty() ? nullptr : layer.grad_input.floats();
  float* bias_grad = layer.use_bias ? parameters_.grad(layer.bias_variable) : nullptr;
  backend.DenseBackward(InputOf(layer, 0), parameters_.param(layer.kernel_variable), dy, grad_input,
                        parameters_.grad(layer.kernel_variable), bias_grad, batch,
                        layer.in_features, layer.out_features);
  GiveGradient(backend, layer.inputs[0], grad_input, batch);
}

void Model::BackwardActivation(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                               bool fused) {
  Layer& layer = layers_[k];
  if (layer.activation == kernels::Activation::kLinear || fused) {  // the identity
    return GiveGradient(backend, layer.inputs[0], dy, batch);
  }
  if (layer.grad_input.empty()) return;
  const float* through =
      kernels::BackwardTakesInput(layer.activation) ? InputOf(layer, 0) : layer.output.floats();
  const int64_t last = layer.output_shape.dim(layer.output_shape.rank() - 1);
  backend.ActivationBackward(layer.activation, through, dy, layer.grad_input.floats(),
                             batch * (layer.out_features / last), last);
  GiveGradient(backend, layer.inputs[0], layer.grad_input.floats(), batch);
}

void Model::BackwardCustom(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch) {
  Layer& layer = layers_[k];
  std::vector<const float*> weights;
  std::vector<float*> weight_grads;
  for (int v : layer.custom_variables) {
    weights.push_back(parameters_.param(v));
    weight_grads.push_back(parameters_.grad(v));
  }
  float* grad_input = layer.grad_input.empty() ? nullptr : layer.grad_input.floats();
  layer.custom->Backward(InputOf(layer, 0), layer.output.floats(), dy, batch, layer.in_features,
                         weights, grad_input, weight_grads);
  GiveGradient(backend, layer.inputs[0], grad_input, batch);
}

void Model::BackwardConv2D(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                           bool fused) {
  Layer& layer = layers_[k];
  kernels::Conv2DGeometry g = layer.window;
  g.batch = batch;
  if (layer.activation != kernels::Activation::kLinear && !fused) {
    const float* through = kernels::BackwardTakesInput(layer.activation)
                               ? layer.pre_activation.floats()
                               : layer.output.floats();
    backend.ActivationBackward(layer.activation, through, dy, dy, batch * g.out_h * g.out_w,
                               g.out_c);
  }
  float* grad_input = layer.grad_input.empty() ? nullptr : layer.grad_input.floats();
  float* bias_grad = layer.use_bias ? parameters_.grad(layer.bias_variable) : nullptr;
  backend.Conv2DBackward(g, InputOf(layer, 0), parameters_.param(layer.kernel_variable), dy,
                         grad_input, parameters_.grad(layer.kernel_variable), bias_grad);
  GiveGradient(backend, layer.inputs[0], grad_input, batch);
}

void Model::BackwardPooling(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch) {
  Layer& layer = layers_[k];
  if (layer.grad_input.empty()) return;
  kernels::Conv2DGeometry g = layer.window;
  g.batch = batch;
  if (layer.kind == LayerKind::kMaxPooling2D) {
    backend.MaxPool2DBackward(g, InputOf(layer, 0), dy, layer.grad_input.floats());
  } else {
    backend.AvgPool2DBackward(g, dy, layer.grad_input.floats());
  }
  GiveGradient(backend, layer.inputs[0], layer.grad_input.floats(), batch);
}

// Trainable: the batch-moment backward (gamma/beta gradients, then dx over
// the rows the moments span).
// Frozen (normalized with the moving statistics): dx = dy * gamma / sqrt(mv + eps).
void Model::BackwardBatchNorm(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch) {
  Layer& layer = layers_[k];
  const int64_t channels = layer.channels;
  const int64_t rows = batch * (layer.out_features / channels);
  const float* x = InputOf(layer, 0);
  const float* gamma = layer.scale ? parameters_.param(layer.gamma_variable) : nullptr;
  float* dx = layer.grad_input.empty() ? nullptr : layer.grad_input.floats();
  float* scratch = layer.channel_scratch.floats();
  if (!layer.trainable) {
    if (dx == nullptr) return;
    backend.Fill(scratch + 2 * channels, 0.0f, channels);
    backend.BatchNormForward(dy, scratch + 2 * channels,
                             parameters_.param(layer.moving_variance_variable), gamma, nullptr,
                             layer.epsilon, dx, rows, channels);
    return GiveGradient(backend, layer.inputs[0], dx, batch);
  }
  float* dgamma = layer.scale ? parameters_.grad(layer.gamma_variable) : scratch;
  float* dbeta = layer.center ? parameters_.grad(layer.beta_variable) : scratch + channels;
  const float* mean = layer.batch_mean.floats();
  const float* variance = layer.batch_variance.floats();
  backend.BatchNormGradSums(x, dy, mean, variance, layer.epsilon, dgamma, dbeta, rows, channels);
  if (dx == nullptr) return;
  // Synchronized: dx from the global batch's sums over its rows (dgamma and
  // dbeta themselves stay this rank's share for the gradient allreduce).
  std::pair<const float*, const float*> sums{dgamma, dbeta};
  if (layer.synchronized) sums = SynchronizeGradSums(layer, dgamma, dbeta);
  backend.BatchNormInputGrad(x, dy, mean, variance, gamma, sums.first, sums.second, layer.epsilon,
                             layer.global_rows, dx, rows, channels);
  GiveGradient(backend, layer.inputs[0], dx, batch);
}

// Add: input 0 takes dy itself, the others copies. Concatenate: each input
// its column block of dy.
void Model::BackwardMerge(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch) {
  Layer& layer = layers_[k];
  if (layer.grad_input.empty()) return;
  const int64_t total = layer.output_shape.dim(layer.output_shape.rank() - 1);
  const int64_t rows = batch * (layer.out_features / total);
  float* buffer = layer.grad_input.floats();
  int64_t offset = 0;
  for (size_t j = 0; j < layer.inputs.size(); ++j) {
    const int producer = layer.inputs[j];
    const bool wanted =
        producer != kModelInput && layers_[static_cast<size_t>(producer)].passes_gradient;
    if (layer.kind == LayerKind::kAdd) {
      if (!wanted) continue;
      float* grad = dy;
      if (j > 0) {
        grad = buffer + static_cast<int64_t>(j - 1) * max_batch_ * layer.out_features;
        backend.CopyColumnsInto(dy, rows, total, grad, total, 0);
      }
      GiveGradient(backend, producer, grad, batch);
      continue;
    }
    const int64_t cols = InputChannels(layer, j);
    float* grad = buffer + max_batch_ * (layer.out_features / total) * offset;
    if (wanted) {
      backend.CopyColumnsFrom(dy, rows, total, offset, grad, cols);
      GiveGradient(backend, producer, grad, batch);
    }
    offset += cols;
  }
}

}  // namespace shardtrain::model
