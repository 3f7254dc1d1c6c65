// The order of Keras's `model.layers` for our model graph, and the check that
// a Keras export lists the layers in that order.
//
// Keras matches weights to the layers of a file by position in model.layers:
// `.keras`/`.weights.h5` number them layers/<snake_case(class)>[_n] in that
// order (spec keras-formats §4.4), legacy `.h5` lists them positionally in
// layer_names (§3.1 step 5), and Adam's slots follow trainable_variables.
// For a Functional model Keras does not keep the order the layers were
// written in; it recomputes it from the graph:
//
//   depth(output) = 0; depth(layer) = max over its consumers of depth + 1
//   (the longest path to the output; the InputLayer is the deepest, so first);
//   layers sorted by decreasing depth; ties by the index at which a
//   depth-first traversal from the output, visiting each layer's inputs in
//   call order, first reaches the layer (pre-order).
//
// Source: keras/src/ops/function.py map_graph + _build_map_helper (Keras 3,
// keras-team/keras 3422977a, `operation_indices` set on entry) and
// keras/engine/functional.py _map_graph_network + _build_map_helper (tf.keras
// 2, same rule, `layer_indices`); Functional.layers lists `_operations`.
// Checked against mlcommons_tiny_trainedResnet_k3.7.h5 (ties at two depths).
// Among layers of equal depth none is an input of another, so first-reached
// and first-finished order agree. A straight chain keeps its order.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "worker/model/model.h"

namespace shardtrain::model {

// Indices of our layers in Keras's model.layers order (the InputLayer, always
// first in Keras, left out). `inputs[i]`: the producers of layer i in call
// order, each an earlier layer or Model::kModelInput; the last layer is the
// output. A layer that does not reach the output (ResolveLayerGraph refuses
// those) would not be in Keras's model; it is put last, in config order.
std::vector<int> KerasLayerOrder(const std::vector<std::vector<int>>& inputs);

// KerasLayerOrder of `model`'s layers.
std::vector<int> KerasLayerOrder(const Model& model);

// "" when `model`'s layers are in Keras's order, else a sentence naming the
// config's order and Keras's.
std::string KerasLayerOrderMismatch(const Model& model);

// FailedPrecondition when `model`'s layer order differs from Keras's (a Keras
// file written in our order would load the weights into the wrong layers
// without an error), naming both orders and saying to list the layers in
// Keras's order in the config. OK for a chain.
Status CheckKerasLayerOrder(const Model& model);

}  // namespace shardtrain::model
