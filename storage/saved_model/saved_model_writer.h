// Exporting a dense MLP as a TensorFlow SavedModel that TF Serving,
// TensorFlow's C++ LoadSavedModel, TF2 (through its TF1 loader) and our own
// serving runtime load: the minimal TF1-style graph of
// shared/spec/tf-formats.md §4.4 (resource variables restored through
// saver_def), tag "serve", signature serving_default
// (tensorflow/serving/predict), TF1 variable names in variables/.
//
// A version is built in BASE/.tmp-<random>, fsynced, then renamed to
// BASE/<version>, so a server watching BASE never sees half a version.
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/tf/saved_model.pb.h"

namespace shardtrain::storage::saved_model {

// One Dense layer: y = activation(x · kernel + bias).
struct ExportDense {
  std::string name;  // "dense"
  int64_t in = 0, out = 0;
  std::vector<float> kernel;  // (in, out) row-major
  std::vector<float> bias;    // (out), empty for no bias
  // "linear", "relu", "sigmoid", "tanh", "softmax", "gelu", "gelu_approximate"
  // (kernels::ActivationName; GELU as tf.nn.gelu's Mul/RealDiv/Erf/AddV2 graph).
  std::string activation;
};

struct ExportModel {
  // Signature input key and placeholder name: the Keras Input layer's name, or
  // "<first layer>_input" (Keras 2's default for a Sequential without one).
  std::string input_name = "dense_input";
  int64_t input_size = 0;
  std::vector<ExportDense> layers;  // Dropout/Flatten already removed
  // Also output "probabilities" = softmax(output_0) (a classifier trained from
  // logits), or sigmoid(output_0) when sigmoid_probabilities (a one-unit
  // binary classifier, binary_crossentropy from logits).
  bool add_probabilities = false;
  bool sigmoid_probabilities = false;
};

// The SavedModel proto of `model` (no weights: they go to variables/).
// InvalidArgument when input_name clashes with a node the export makes.
StatusOr<tf::SavedModel> BuildSavedModel(const ExportModel& model);

// Writes BASE/<version> (version <= 0: one more than the highest numeric
// subdirectory, 1 when none) and returns that directory. AlreadyExists when
// the version exists; InvalidArgument for inconsistent layer sizes.
StatusOr<std::string> ExportSavedModel(const ExportModel& model, const std::string& base_path,
                                       int64_t version);

}  // namespace shardtrain::storage::saved_model
