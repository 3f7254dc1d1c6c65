// Keras model JSON <-> our ModelConfig (shared/spec/keras-formats.md §4.3,
// §5, §6, §7). Writing follows the spec's writer recommendations (the smallest
// key set that Keras 3.3+ and tf.keras 2.x load): a chain as a Sequential
// model, a graph (some LayerConfig.inputs) as a Functional one. Reading
// accepts what real Keras wrote: Sequential (list or dict config, with or
// without an InputLayer entry) and Functional/Model graphs with one input and
// one output, in the Keras 2 and Keras 3 forms. Supported layer classes:
// InputLayer, Dense, Dropout, Flatten, Activation, Conv2D, MaxPooling2D,
// AveragePooling2D, GlobalAveragePooling2D, Reshape, BatchNormalization, Add,
// Concatenate (keras_json_layers.h), and classes registered with
// RegisterLayer (layer_registry.h); anything else is an error naming the
// class, the layer and how to register it. A layer's (or the whole model's)
// "trainable": false is read into LayerConfig.trainable, and each layer's
// flag is written back. Files: keras_json_read.cc, keras_json_graph.cc,
// keras_json_fields.cc, keras_json_layers.cc, keras_json_conv_layers.cc
// (reading); keras_json_write.cc, keras_json_write_layers.cc,
// keras_json_compile.cc (writing).
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/model/model.h"

namespace shardtrain::model {

enum class KerasJsonFlavor {
  kKeras3,  // Keras 3: config.json of a .keras archive and to_json() (module/registered_name)
  kKeras2,  // tf.keras 2.x: legacy .h5 model_config ({"class_name", "config"} wrappers)
};

// The model of `job` (built as `model`, which resolves layer names and
// shapes) as Keras JSON. kKeras3 with `compile` adds compile_config (optimizer,
// loss, metrics). `to_json` adds Keras 2's keras_version/backend keys.
std::string KerasModelJson(const config::JobConfig& job, const Model& model, KerasJsonFlavor flavor,
                           bool compile, bool to_json = false);

// The legacy .h5 root attribute training_config (Keras 2 form, spec §7).
std::string KerasTrainingConfigJson(const config::JobConfig& job);

// The ModelConfig described by Keras model JSON `text` (`source` names it in
// errors): InvalidArgument for malformed JSON, a field of the wrong type
// (naming the layer and field) or an unsupported layer, option or activation;
// Unimplemented for several inputs or outputs and shared layers.
StatusOr<config::ModelConfig> ModelConfigFromKerasJson(const std::string& text,
                                                       const std::string& source);

}  // namespace shardtrain::model
