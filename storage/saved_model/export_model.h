// ExportModel: what `shardtrain export` hands the SavedModel writer — a small
// layer graph in topological order, each layer with its kind, name, inputs,
// attributes and weights (float32, Keras layouts). Plain value types.
//
// Shapes are per example, channels_last (NHWC without the batch). A layer's
// `inputs` name earlier layers or the model input (input_name); empty means
// the previous layer (the model input for the first), so a Dense stack needs
// no inputs at all. The last layer is the model's output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shardtrain::storage::saved_model {

enum class ExportLayerKind {
  kDense,               // MatMul [+ BiasAdd] [+ activation]; flat input
  kConv2D,              // Conv2D [+ BiasAdd] [+ activation]
  kMaxPool,             // MaxPool
  kAvgPool,             // AvgPool (TF: the mean over the real inputs of a window)
  kGlobalAvgPool,       // Mean over axes [1, 2], keep_dims = keepdims
  kBatchNormalization,  // FusedBatchNormV3, inference form (moving statistics)
  kActivation,          // the activation op alone
  kAdd,                 // AddV2, chained for more than two inputs
  kConcatenate,         // ConcatV2 over the last axis
  kReshape,             // Reshape to [-1, target_shape...] (Keras Reshape and Flatten)
};

struct ExportLayer {
  ExportLayerKind kind = ExportLayerKind::kDense;
  std::string name;  // Keras name: "dense", "conv2d_1"; variables are "<name>/kernel"
  std::vector<std::string> inputs;  // see the file comment

  // kDense: kernel (in, out). kConv2D: kernel (window_h, window_w, in_c, out), Keras's layout.
  int64_t in = 0, out = 0;  // kDense: features; kConv2D: out = filters (in is the input channels)
  std::vector<float> kernel;
  std::vector<float> bias;  // (out); empty for no bias
  // kDense, kConv2D, kActivation: "linear", "relu", "sigmoid", "tanh", "softmax"
  // (over the last axis), "gelu", "gelu_approximate" (tf.nn.gelu's graph).
  std::string activation = "linear";

  // kConv2D, kMaxPool, kAvgPool: window and strides; padding "SAME" or "VALID" (TF's rules).
  int64_t window_h = 0, window_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  bool same_padding = false;

  bool keepdims = false;  // kGlobalAvgPool: output (1, 1, c) instead of (c)

  // kBatchNormalization over the last axis: y = gamma (x - mean) / sqrt(var + epsilon) + beta.
  float epsilon = 1e-3f;
  std::vector<float> gamma, beta;  // empty when Keras's scale / center is false
  std::vector<float> moving_mean, moving_variance;

  std::vector<int64_t> target_shape;  // kReshape: per example, no -1
};

struct ExportModel {
  // Signature input key and placeholder name: the Keras Input layer's name, or
  // "<first layer>_input" (Keras 2's default for a Sequential without one).
  std::string input_name = "dense_input";
  int64_t input_size = 0;
  // Per-example input shape; empty means {input_size} (a flat input). When it
  // has more than one dimension the placeholder is [-1, shape...] and the
  // graph reshapes the input to it first, so flat rows (N, input_size) work too.
  std::vector<int64_t> input_shape;
  std::vector<ExportLayer> layers;  // Dropout already removed, inputs resolved
  // Also output "probabilities" = softmax(output_0) (a classifier trained from
  // logits), or sigmoid(output_0) when sigmoid_probabilities (a one-unit
  // binary classifier, binary_crossentropy from logits).
  bool add_probabilities = false;
  bool sigmoid_probabilities = false;
};

}  // namespace shardtrain::storage::saved_model
