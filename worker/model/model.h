// Model: a Keras-style Sequential model (Dense, Dropout, Flatten, Activation
// and registered custom layers, worker/model/layer_registry.h) over one
// ParameterStore, running on a KernelBackend.
//
// Create() validates the config (errors name the layer and field), checks
// the memory the model would need for `max_batch` rows against this machine's
// memory (ResourceExhausted naming the amount), and sizes every activation
// buffer once; Forward/Backward never allocate. Dropout layers keep no masks:
// the backward pass redraws them from the same Philox key, and a dropout
// directly above another one works in place over its buffer. Each layer
// kind is built by one function, listed in kLayerKinds (model.cc). Layer and
// variable names follow Keras (dense, dense_1, dropout; "dense/kernel",
// "dense/bias"). Not thread-safe: one model per worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/model/layer_registry.h"
#include "worker/model/parameter_store.h"

namespace shardtrain::model {

// How a forward pass draws dropout masks. Masks are keyed by the global index
// of the batch's first example, so they do not depend on the number of ranks.
struct ForwardMode {
  bool training = false;
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t first_example = 0;
};

class Model {
 public:
  enum class LayerKind { kDense, kDropout, kFlatten, kActivation, kCustom };
  struct Layer {
    LayerKind kind = LayerKind::kDense;
    std::string name;
    int64_t in_features = 0;
    int64_t out_features = 0;
    kernels::Activation activation = kernels::Activation::kLinear;
    bool use_bias = true;
    // Keras's trainable: false freezes the layer's variables (no update, no
    // optimizer slots); its backward then only passes the gradient on.
    bool trainable = true;
    // A layer below this one has trainable variables, so a gradient flows back through it.
    bool gradient_below = false;
    float rate = 0.0f;
    float l1 = 0.0f, l2 = 0.0f;  // Dense kernel_regularizer factors
    int kernel_variable = -1;
    int bias_variable = -1;
    uint32_t index = 0;         // position in the layer list; the dropout RNG stream
    std::vector<float> output;  // (max_batch, out_features); empty for flatten, in-place dropout
    // Dense whose activation's backward takes its input (GELU): x·w + b.
    std::vector<float> pre_activation;
    std::vector<float> grad_input;        // (max_batch, in_features); not for dropout
    kernels::DropoutKey dropout_key;      // the last training Forward's mask, for Backward
    std::shared_ptr<CustomLayer> custom;  // kCustom: the registered class's object
    std::string registered_name;          // kCustom
    std::vector<int> custom_variables;    // kCustom: its weights in the parameter store
  };

  // `max_batch` bounds the rows of every Forward/Backward call.
  static StatusOr<std::unique_ptr<Model>> Create(const config::ModelConfig& config,
                                                 int64_t max_batch);

  int64_t input_size() const { return input_size_; }
  int64_t output_size() const { return output_size_; }
  int64_t max_batch() const { return max_batch_; }
  const std::vector<Layer>& layers() const { return layers_; }
  ParameterStore& parameters() { return parameters_; }
  const ParameterStore& parameters() const { return parameters_; }
  // The activation of the last layer (softmax for a probabilistic classifier).
  kernels::Activation final_activation() const;

  // Keras defaults: glorot_uniform kernels (Philox stream = variable index), zero biases.
  void Initialize(kernels::KernelBackend& backend, uint64_t seed);

  // Runs x (batch, input_size) through the layers; returns (batch, output_size).
  // With `skip_final_softmax` the last layer's softmax is not applied, so the
  // result is logits for a fused softmax cross-entropy.
  const float* Forward(kernels::KernelBackend& backend, const float* x, int64_t batch,
                       const ForwardMode& mode, bool skip_final_softmax);

  // Given d(loss)/d(output) in `grad_output` (batch, output_size; overwritten),
  // writes every trainable variable's gradient into parameters().grads()
  // (overwriting). A frozen layer's gradient is left as it was, or written
  // when the layer must pass a gradient on to a trainable layer before it.
  // Must follow a training Forward on the same x and batch. When the forward
  // skipped the final softmax, grad_output is d(loss)/d(logits).
  void Backward(kernels::KernelBackend& backend, const float* x, float* grad_output, int64_t batch,
                bool skipped_final_softmax);

  // Keras's kernel_regularizer penalty of the trainable Dense layers:
  // sum of l1 * sum|w| + l2 * sum w^2 (Keras counts trainable weights only).
  double RegularizationPenalty() const;
  // Adds that penalty's gradient (l1 * sign(w) + 2 * l2 * w) to the kernels'
  // gradients in parameters().grads() and returns the penalty. A pure function
  // of the weights, so every rank adds the same to the summed gradient.
  double AddRegularizationGradients();

 private:
  Model() = default;
  // The index final_layer_ describes, computed from layers_.
  size_t FinalActivationLayer() const;

  std::vector<Layer> layers_;
  ParameterStore parameters_;
  int64_t input_size_ = 0;
  int64_t output_size_ = 0;
  int64_t max_batch_ = 0;
  // The layer whose activation is the model's final one (the last Dense or
  // Activation with only Dropout/Flatten after it): a fused loss may bypass its
  // softmax. npos when a custom layer comes last.
  size_t final_layer_ = static_cast<size_t>(-1);
  // Input of each layer in the last Forward (x or the previous layer's output).
  std::vector<const float*> layer_inputs_;
  // The dropout masks of one layer at a time (drawn again in Backward).
  std::vector<uint8_t> dropout_mask_;
};

}  // namespace shardtrain::model
