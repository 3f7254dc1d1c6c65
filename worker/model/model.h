// Model: a Keras-style model over one ParameterStore, running on a
// KernelBackend: Dense, Dropout, Flatten, Activation, registered custom layers
// (worker/model/layer_registry.h), Conv2D, MaxPooling2D, AveragePooling2D,
// GlobalAveragePooling2D, Reshape, BatchNormalization, Add and Concatenate, as
// a straight chain or a functional graph (LayerConfig.inputs; layers listed
// in topological order, the last one is the output).
//
// Activations are (batch, features) row-major, one example having the layer's
// output_shape (channels_last); Flatten and Reshape change only the shape.
//
// Create() validates the config (errors name the layer and field), checks
// the memory the model would need for `max_batch` rows against this machine's
// memory (ResourceExhausted naming the amount), and allocates the parameters,
// gradients and every activation buffer once as device memory of the backend
// it is given; Forward/Backward never allocate, and take x and give their
// results in that device memory. Dropout layers keep no masks:
// the backward pass redraws them from the same Philox key, and a dropout
// directly above another one works in place over its buffer. Each layer
// kind is built by one function, listed in kLayerKinds (model_build.cc).
// Layer and variable names follow Keras (dense, dense_1, dropout; "dense/kernel",
// "dense/bias"). A straight Dense/Dropout/Flatten/Activation chain runs the
// same kernel calls on the same buffers as a Sequential model always has.
// Files: model.cc (Create, initialization, regularizers, moving statistics),
// model_graph.cc (names and inputs), model_build.cc + *_builders.cc (one
// builder per kind), model_forward.cc, model_backward.cc, model_sync.cc
// (synchronized BatchNormalization), model_host_staging.cc (host views of
// device memory for the host math). Not thread-safe: one model per worker.
//
// Synchronized BatchNormalization (`synchronized: true`, Keras's
// SyncBatchNormalization): in a training pass the layer normalizes with the
// moments of the global batch, and its input gradient uses the global
// gradient sums, both summed over ranks through the cross-rank sum hook
// (SetCrossRankSum; without one the rank's batch is the global batch). Every
// rank must make the same sums in the same order: a rank with no rows in a
// step calls ParticipateWithoutRows instead of Forward/Backward.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/shape.h"
#include "common/status.h"
#include "kernels/backend.h"
#include "proto/config.pb.h"
#include "worker/model/layer_registry.h"
#include "worker/model/parameter_store.h"

namespace shardtrain::model {

// How a forward pass runs: in training, dropout draws masks and a trainable
// BatchNormalization normalizes with the batch's moments (else the moving
// ones). Masks are keyed by the global index of the batch's first example,
// so they do not depend on the number of ranks.
struct ForwardMode {
  bool training = false;
  uint64_t seed = 0;
  uint64_t step = 0;
  uint64_t first_example = 0;
};

class Model {
 public:
  enum class LayerKind {
    kDense,
    kDropout,
    kFlatten,
    kActivation,
    kCustom,
    kConv2D,
    kMaxPooling2D,
    kAveragePooling2D,
    kGlobalAveragePooling2D,
    kReshape,
    kBatchNormalization,
    kAdd,
    kConcatenate
  };
  // Layer::inputs entry meaning the model's input.
  static constexpr int kModelInput = -1;
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
    uint32_t index = 0;  // position in the layer list; the dropout RNG stream
    // Activation and scratch buffers are the backend's device memory,
    // allocated once by Create ("<layer> output", ...); empty when unused.
    // (max_batch, out_features); empty for flatten, reshape and in-place dropout.
    kernels::DeviceBuffer output;
    // Dense or Conv2D whose activation's backward takes its input (GELU): x·w + b.
    kernels::DeviceBuffer pre_activation;
    // (max_batch, in_features) when a layer below needs a gradient; not for
    // dropout; Add: (inputs - 1) copies of the output's; Concatenate: (max_batch, out_features).
    kernels::DeviceBuffer grad_input;
    kernels::DropoutKey dropout_key;      // the last training Forward's mask, for Backward
    std::shared_ptr<CustomLayer> custom;  // kCustom: the registered class's object
    std::string registered_name;          // kCustom
    std::vector<int> custom_variables;    // kCustom: its weights in the parameter store

    // The producing layers (indices into layers()); kModelInput = the model's input.
    std::vector<int> inputs;
    // One example's output, e.g. {26, 26, 32}; out_features is its product.
    Shape output_shape;
    // This layer's output needs a gradient: it, or a layer below it, has
    // trainable variables. Backward hands a gradient only to such layers.
    bool passes_gradient = false;
    // kConv2D, kMaxPooling2D, kAveragePooling2D, kGlobalAveragePooling2D (batch left 0).
    kernels::Conv2DGeometry window;
    bool same_padding = false;
    bool keepdims = false;  // kGlobalAveragePooling2D
    // kBatchNormalization (Keras defaults).
    float momentum = 0.99f, epsilon = 1e-3f;
    bool center = true, scale = true, synchronized = false;
    int gamma_variable = -1, beta_variable = -1;
    int moving_mean_variable = -1, moving_variance_variable = -1;
    int64_t channels = 0;  // kBatchNormalization: the last axis
    // The last training forward's moments, `channels` floats each.
    kernels::DeviceBuffer batch_mean, batch_variance;
    // kBatchNormalization: 3 * channels of scratch (dgamma and dbeta when the
    // layer has no gamma/beta variable, then zeros for the frozen backward);
    // synchronized: 2 * channels more (the global dgamma and dbeta).
    kernels::DeviceBuffer channel_scratch;
    // kBatchNormalization: the rows the last training forward's moments span
    // (over all ranks when synchronized); synchronized: 1 + 3 * channels
    // doubles of host scratch for the cross-rank sums.
    double global_rows = 0;
    std::vector<double> cross_rank_sums;
  };

  // `max_batch` bounds the rows of every Forward/Backward call. Parameters,
  // gradients and every activation and scratch buffer are allocated once on
  // `backend` (which must outlive the model; ResourceExhausted naming the
  // buffer). Forward, Backward and Initialize must then be given the same
  // backend (or, on the CPU, any CPU backend). On a backend whose device
  // memory the host cannot read, a custom layer (host code) is
  // FailedPrecondition, and the model's host math (regularizers, moving
  // statistics, synchronized BatchNormalization's sums) goes through
  // host staging buffers allocated here; on the CPU it reads memory in place.
  static StatusOr<std::unique_ptr<Model>> Create(const config::ModelConfig& config,
                                                 int64_t max_batch,
                                                 kernels::KernelBackend& backend);

  int64_t input_size() const { return input_size_; }
  // The name LayerConfig.inputs uses for the model's input ("input" unless configured).
  const std::string& input_name() const { return input_name_; }
  // One example of the input, as configured (model.input_shape).
  const Shape& input_shape() const { return input_shape_; }
  int64_t output_size() const { return output_size_; }
  int64_t max_batch() const { return max_batch_; }
  const std::vector<Layer>& layers() const { return layers_; }
  ParameterStore& parameters() { return parameters_; }
  const ParameterStore& parameters() const { return parameters_; }
  // The activation of the last layer that has one (Dense, Conv2D or
  // Activation, looking through Dropout and Flatten): softmax for a
  // probabilistic classifier.
  kernels::Activation final_activation() const;
  // The number of positions of one example that final_activation() applies
  // to separately: 1 when it spans the whole output row (a Dense head, or a
  // [1, 1, C] Conv2D), h * w for a per-pixel softmax over a (h, w, C) output.
  // A fused loss may bypass the final softmax only when this is 1.
  int64_t final_activation_positions() const;
  // The first Dropout with a rate above 0 between the last layer that has
  // final_activation() and the output (looking through Flatten), or null:
  // a loss fused with a final softmax would drop the logits, not the
  // probabilities Keras drops.
  const Layer* ActiveDropoutAfterFinalActivation() const;

  // Keras defaults: glorot_uniform kernels (Philox stream = variable index), zero biases.
  void Initialize(kernels::KernelBackend& backend, uint64_t seed);

  // The first error of a host staging copy since the last call (OK if none;
  // always OK on a host-readable backend), and clears it.
  Status TakeHostCopyStatus();

  // Runs x (batch, input_size, device memory) through the layers; returns
  // (batch, output_size) in device memory.
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

  // Sums `n` doubles over the ranks of the job, in place; collective.
  using CrossRankSum = std::function<Status(double* values, int64_t n)>;
  // The sum synchronized BatchNormalization layers reduce their statistics
  // with in training (the trainer sets it when the job has several ranks).
  // Unset, or empty: each rank's batch is taken as the global batch.
  void SetCrossRankSum(CrossRankSum sum) { cross_rank_sum_ = std::move(sum); }
  // For a rank with no rows in a training step, in place of Forward and
  // Backward: joins the cross-rank sums of the synchronized layers, in the
  // same order, with zeros (no-op without synchronized layers or a hook).
  void ParticipateWithoutRows();
  // The first error of the cross-rank sum since the last call (OK if none),
  // and clears it. After an error the model still makes every later sum of
  // the step (results unused where they failed), so the ranks' collectives
  // stay in step; the trainer fails the step with this error.
  Status TakeCrossRankStatus();

  // Whether some layer keeps moving statistics (a trainable BatchNormalization).
  bool has_moving_statistics() const;
  // After Backward: writes weight * (the last training forward's batch mean /
  // variance) into the moving_mean / moving_variance variables' slots of
  // parameters().grads(), for every trainable BatchNormalization (weight =
  // this rank's rows / the global batch's rows; a rank with no rows passes 0
  // and writes zeros). The gradient allreduce then sums them into the global
  // mean (a synchronized layer's moments are already global on every rank
  // with rows, and the weights sum to 1).
  void StoreBatchStatistics(float weight);
  // After the allreduce: moving = momentum * moving + (1 - momentum) * slot,
  // per statistic of every trainable BatchNormalization.
  void UpdateMovingStatistics();

 private:
  Model() = default;
  // The index final_layer_ describes, computed from layers_.
  size_t FinalActivationLayer() const;
  // The output of layer `layer`'s input number `which` in the last Forward.
  const float* InputOf(const Layer& layer, size_t which) const;
  // The last dim of layer `layer`'s input number `which` (Concatenate's column block).
  int64_t InputChannels(const Layer& layer, size_t which) const;
  // One layer's forward pass (model_forward.cc); returns its output.
  const float* ForwardLayer(kernels::KernelBackend& backend, size_t i, int64_t batch,
                            const ForwardMode& mode, bool skip_final_softmax);
  const float* ForwardDense(kernels::KernelBackend& backend, Layer& layer, const float* in,
                            int64_t batch, bool skip_softmax);
  const float* ForwardDropout(kernels::KernelBackend& backend, Layer& layer, const float* in,
                              int64_t batch, const ForwardMode& mode);
  const float* ForwardActivation(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                 int64_t batch, bool skip_softmax);
  const float* ForwardConv2D(kernels::KernelBackend& backend, Layer& layer, const float* in,
                             int64_t batch, bool skip_softmax);
  const float* ForwardBatchNorm(kernels::KernelBackend& backend, Layer& layer, const float* in,
                                int64_t batch, bool training);
  const float* ForwardMerge(kernels::KernelBackend& backend, Layer& layer, int64_t batch);
  // One layer's backward pass (model_backward.cc): given d(loss)/d(its output)
  // in `dy` (its own to overwrite), hands each input's gradient to GiveGradient.
  void BackwardLayer(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                     bool skipped_final_softmax);
  void BackwardDense(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                     bool fused);
  void BackwardActivation(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                          bool fused);
  void BackwardCustom(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch);
  void BackwardConv2D(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch,
                      bool fused);
  void BackwardPooling(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch);
  void BackwardBatchNorm(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch);
  void BackwardMerge(kernels::KernelBackend& backend, size_t k, float* dy, int64_t batch);
  // Synchronized BatchNormalization (model_sync.cc). Turns this rank's moments
  // of `rows` rows (in batch_mean/batch_variance) into the global batch's.
  void SynchronizeMoments(Layer& layer, int64_t rows);
  // Sums dgamma and dbeta (this rank's, left as they are) over ranks into
  // the layer's scratch; returns {global dgamma, global dbeta}. Null sums: zeros.
  std::pair<const float*, const float*> SynchronizeGradSums(Layer& layer, const float* dgamma,
                                                            const float* dbeta);
  // Whether the layer sums statistics over ranks in a training forward
  // (moments) and in Backward (gradient sums, when a gradient flows below it).
  static bool SynchronizesMoments(const Layer& layer);
  static bool SynchronizesGradSums(const Layer& layer);
  // Sums `n` of `values` over ranks through the hook, keeping its first error.
  void SumOverRanks(double* values, int64_t n);
  // Hands `grad` (d(loss)/d(producer's output), free to overwrite) to the
  // producer; a second gradient for the same producer is added into the first.
  void GiveGradient(kernels::KernelBackend& backend, int producer, float* grad, int64_t batch);

  // Host views of `n` device floats for the model's host math: the memory
  // itself on a host-readable backend, else a copy at float `slot` of
  // host_staging_ (waits for it). WriteBack copies a view written on the
  // host back to `device` (a no-op when the view is the memory itself).
  float* HostView(const float* device, int64_t n, int64_t slot) const;
  void WriteBack(float* device, const float* view, int64_t n) const;
  // Floats of host staging the host math needs (0 on a host-readable backend).
  int64_t HostStagingFloats() const;

  kernels::KernelBackend* backend_ = nullptr;
  kernels::PinnedBuffer host_staging_;
  mutable Status host_copy_status_;
  std::vector<Layer> layers_;
  ParameterStore parameters_;
  int64_t input_size_ = 0;
  std::string input_name_;
  Shape input_shape_;
  int64_t output_size_ = 0;
  int64_t max_batch_ = 0;
  // The layer whose activation is the model's final one (the last Dense,
  // Conv2D or Activation with only Dropout/Flatten after it): a fused loss may
  // bypass its softmax when that spans the row. npos when another kind comes last.
  size_t final_layer_ = static_cast<size_t>(-1);
  // The x of the last Forward.
  const float* forward_input_ = nullptr;
  // Output of each layer in the last Forward (an input's, for shape-only layers).
  std::vector<const float*> layer_outputs_;
  // During Backward: d(loss)/d(output of layer i), null until a consumer hands it over.
  std::vector<float*> output_grads_;
  // The dropout masks of one layer at a time (drawn again in Backward), device memory.
  kernels::DeviceBuffer dropout_mask_;
  CrossRankSum cross_rank_sum_;
  Status cross_rank_status_;
};

}  // namespace shardtrain::model
