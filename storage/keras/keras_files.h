// Keras model files (shared/spec/keras-formats.md): the Keras 3 `.keras`
// archive, the Keras 2 legacy full-model `.h5`, Keras 3 `.weights.h5` and
// Keras 2 `save_weights` `.h5`, read into and written from one neutral form
// that knows nothing of our model classes (worker/model/keras_weights.h maps
// it to a Model; worker/model/keras_json.h makes the config JSON).
//
// Writers follow the spec's §7 recommendations (the string types, layouts
// and names that Keras 3.3+ and tf.keras 2.x load), write to a temporary file
// beside the target and rename it, so a reader never sees half a file.
// Readers sniff the content (zip vs HDF5, then the layout) and accept every
// string flavour real Keras wrote; Adam state is read in the Keras 3 and the
// tf.keras <= 2.10 orders, one m and v per trainable weight (never for
// BatchNormalization's moving statistics, keras_weight_names.h). HDF5 and libzip errors become Status
// values naming the file and the object; nothing aborts on bad input.
// Files: keras3_layout (the Keras 3 vars layout), legacy_h5_layout,
// keras_config_scan (what readers take from the config JSON),
// keras_weight_names, zip_archive; this file sniffs, reads and writes whole
// files. Thread-safety: the HDF5 C library serializes its calls; do not call
// these concurrently with other HDF5 users in the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage::keras {

struct KerasWeight {
  std::string name;  // short variable name: "kernel", "bias", "gamma", "moving_mean"
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major float32
  // False for a non-trainable variable (BatchNormalization's moving
  // statistics): saved and loaded like any weight, but without optimizer state.
  bool trainable = true;
};

struct KerasLayerWeights {
  std::string name;        // layer name, e.g. "dense_1"
  std::string class_name;  // "Dense", "Dropout", ...
  // Keras order (kernel, bias; gamma, beta, moving_mean, moving_variance):
  // keras_weight_names.h.
  std::vector<KerasWeight> weights;
  // Keras's trainable (false: frozen, its weights have no optimizer state).
  // Readers take it from the model config when the file has one.
  bool trainable = true;
};

// Adam state; `present` false when the file has none we can use.
struct KerasOptimizerState {
  bool present = false;
  int64_t iterations = 0;
  float learning_rate = 0;
  // Keras 3 keeps learning_rate as an optimizer variable only for a constant
  // rate; with a LearningRateSchedule the variables are iterations, then m/v.
  bool learning_rate_variable = true;
  std::string name = "adam";  // the optimizer's name ("adam", "adamw")
  // One per trainable weight of a trainable layer, model order.
  std::vector<std::vector<float>> m, v;
};

struct KerasModelFile {
  std::string model_config_json;     // .keras: config.json; legacy .h5: model_config; else ""
  std::string training_config_json;  // legacy .h5 only
  std::string keras_version;
  std::vector<KerasLayerWeights> layers;  // model layers in order (weightless ones too)
  KerasOptimizerState optimizer;
};

enum class KerasFileKind {
  kKerasArchive,     // .keras zip
  kLegacyH5,         // Keras 2 full model (model_weights group)
  kWeightsH5,        // Keras 3 .weights.h5 (layers/…/vars/<i>)
  kLegacyWeightsH5,  // Keras 2 save_weights (layer_names at the root)
};

StatusOr<KerasFileKind> DetectKerasFile(const std::string& path);
// Reads a .keras archive, a legacy .h5 or a .weights.h5 file. libhdf5 1.10
// crashes on some damaged files that the attribute pre-check
// (hdf5_attribute_check.h) does not cover, so the file is first read in a
// child process (common/child_trial.h): a crash there is DataLoss "reading
// Keras file 'PATH' crashed (signal N, ...)" and this process carries on.
StatusOr<KerasModelFile> ReadKerasFile(const std::string& path);
// ReadKerasFile without the child-process trial: for the fuzz harness, which
// must see every crash, ours and libhdf5's.
StatusOr<KerasModelFile> ReadKerasFileInProcess(const std::string& path);

// metadata.json's date_saved is the local time, as Keras writes it; with the
// environment variable SOURCE_DATE_EPOCH set (seconds since 1970, the
// reproducible-builds convention) it is that time in UTC, and so is every
// entry's modification time: the same model then gives the same bytes. A
// malformed SOURCE_DATE_EPOCH is InvalidArgument naming it.
Status WriteKerasArchive(const std::string& path, const KerasModelFile& model);
Status WriteLegacyH5(const std::string& path, const KerasModelFile& model);
Status WriteWeightsH5(const std::string& path, const KerasModelFile& model);

// Keras's snake_case of a class name ("Dense" → "dense", "PReLU" → "p_re_lu"),
// used for layer paths in Keras 3 weight files.
std::string KerasSnakeCase(const std::string& class_name);

}  // namespace shardtrain::storage::keras
