// One Keras layer entry of the model JSON that KerasModelJson writes, from a
// built Model's layer: {"module", "class_name", "config", "registered_name",
// "build_config"} (Keras 3) or {"class_name", "config"} (Keras 2), with the
// keys Keras writes for the class (spec keras-formats.md §7: the smallest set
// that Keras 3.3+ and tf.keras 2.x load). Pure functions; thread-safe.
// Internal to worker/model's Keras JSON code.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/model/keras_json_fields.h"
#include "worker/model/model.h"

namespace shardtrain::model::keras_json {

// [null, d0, d1, ...]: a Keras shape with its batch dimension.
Json BatchShape(const std::vector<int64_t>& shape);

// One example's shape at layer `index`'s (first) input.
const Shape& LayerInputShape(const Model& model, size_t index);

// Layer `index` of `model` as a Keras layer entry. `batch_input_shape`, when
// not null, is written into a Keras 2 entry's config (the first layer of a
// Sequential model).
Json KerasLayerEntry(const Model& model, size_t index, bool keras3,
                     const std::vector<int64_t>* batch_input_shape);

}  // namespace shardtrain::model::keras_json
