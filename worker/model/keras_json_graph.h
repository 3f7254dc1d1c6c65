// The graph of a Keras Functional model JSON: which layers feed each layer
// (its "inbound_nodes", Keras 2 and Keras 3 forms, spec keras-formats.md §5.2)
// and the model's input and output layers. One input, one output and layers
// called once are supported; anything else is Unimplemented naming it. Pure
// functions; thread-safe. Internal to worker/model's Keras JSON code.
#pragma once

#include <string>
#include <vector>

#include "worker/model/keras_json_fields.h"

namespace shardtrain::model::keras_json {

// The names of the layers whose outputs `entry` takes, in order: Keras 2
// [[["name", 0, 0, {}], ...]] or Keras 3 [{"args": [tensor or [tensors]],
// "kwargs": {...}}]. Empty for an InputLayer (no or empty inbound_nodes).
// Unimplemented for a shared layer (several nodes), a tensor of a
// multi-output layer, or a tensor passed in kwargs.
StatusOr<std::vector<std::string>> InboundLayerNames(const Json& entry, const std::string& where);

// The layer names of a model config's "input_layers" or "output_layers"
// (`key`): a triple, a list of triples or a dict of them; empty when absent.
StatusOr<std::vector<std::string>> EndpointLayerNames(const Json& model_config, const char* key,
                                                      const std::string& source);

}  // namespace shardtrain::model::keras_json
