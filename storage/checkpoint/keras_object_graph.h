// The checkpoint keys and _CHECKPOINTABLE_OBJECT_GRAPH that tf.keras writes
// for `model.save_weights(prefix)` of a Sequential model compiled with a
// Keras OptimizerV2 optimizer (shared/spec/tf-formats.md §3.1–3.2.1, variant
// A), so tf.train.list_variables, tf.train.load_checkpoint and tf-keras
// `model.load_weights(prefix)` work on our checkpoints.
//
// Node numbering is breadth-first from the model (node 0): the layers
// (`layer_with_weights-j` then `layer-i` edges; a functional model lists its
// InputLayer first, as a weightless layer), the optimizer, the layers'
// variables, the optimizer's own variables (iter, then hyper-parameters in the
// given order), then the slot variables (slot by slot, trainable variable by
// trainable variable).
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "proto/tf/checkpoint.pb.h"

namespace shardtrain::storage {

inline constexpr char kObjectGraphKey[] = "_CHECKPOINTABLE_OBJECT_GRAPH";

struct KerasLayerSpec {
  std::string name;                  // "dense", "dropout", "dense_1", "input_layer"
  std::vector<std::string> weights;  // "kernel", "bias"; empty for weightless layers
  // Per weight, parallel to `weights`: whether the optimizer keeps slots for it
  // (tf.keras has none for a frozen layer's weights or for moving statistics).
  // Empty: every weight has slots.
  std::vector<bool> trainable = {};
};

struct KerasOptimizerSpec {
  std::string name;                           // Keras class name: "Adam", "SGD", "RMSprop"
  std::vector<std::string> hyper_parameters;  // variable order: "iter" first, then sorted names
  std::vector<std::string> slot_names;        // "m", "v" / "momentum" / "rms", "momentum"
};

// One saved tensor of the layout.
struct KerasCheckpointVariable {
  enum class Kind { kWeight, kHyperParameter, kSlot };
  Kind kind = Kind::kWeight;
  std::string key;        // bundle key, e.g. "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
  std::string full_name;  // e.g. "dense/kernel", "Adam/iter", "Adam/dense/kernel/m"
  int layer = -1;         // index into the layer list (weights and slots)
  int weight = -1;        // index into that layer's weights (weights and slots)
  int hyper_parameter = -1;  // index into hyper_parameters
  int slot = -1;             // index into slot_names
};

struct KerasCheckpointLayout {
  tf::TrackableObjectGraph graph;
  std::vector<KerasCheckpointVariable> variables;  // in node-id order
};

// The layout for `layers`, with the optimizer's variables and slots unless
// `optimizer` is null (weights only).
KerasCheckpointLayout BuildKerasCheckpointLayout(const std::vector<KerasLayerSpec>& layers,
                                                 const KerasOptimizerSpec* optimizer);

// Escapes one object-path component: "." → "..", "/" → ".S".
std::string EscapeObjectPathComponent(const std::string& name);

}  // namespace shardtrain::storage
