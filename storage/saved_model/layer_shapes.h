// Shape checking of an ExportModel before any node is built: each layer's
// per-example output shape from its inputs, attributes and weight sizes, and
// the variables each layer stores. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "storage/saved_model/export_model.h"

namespace shardtrain::storage::saved_model {

using ExampleShape = std::vector<int64_t>;  // one example's shape, no batch

// The model input's per-example shape: input_shape, or {input_size} when empty.
ExampleShape ModelInputShape(const ExportModel& model);

// The names layer `index` reads: its inputs, or the previous layer (the model
// input for the first) when it lists none.
std::vector<std::string> LayerInputNames(const ExportModel& model, size_t index);

// Every layer's output shape, in layer order. InvalidArgument naming the layer
// (and field) for an unknown or later input, a wrong input count or rank,
// weights whose sizes do not match, an empty pooling/convolution output, or an
// activation with no TF op.
StatusOr<std::vector<ExampleShape>> LayerOutputShapes(const ExportModel& model);

// A variable of the graph and of variables/: "<layer>/kernel", its shape and values.
struct LayerVariable {
  std::string name;
  std::vector<int64_t> shape;
  const std::vector<float>* values = nullptr;
};

// The variables of `layer` in Keras order (kernel, bias; gamma, beta,
// moving_mean, moving_variance), those present only.
std::vector<LayerVariable> LayerVariables(const ExportLayer& layer);

}  // namespace shardtrain::storage::saved_model
