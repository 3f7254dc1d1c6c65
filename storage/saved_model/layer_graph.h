// The forward nodes of one ExportLayer (storage/saved_model/export_model.h):
// its resource variables (VarHandleOp "<layer>/<weight>" and its ReadVariableOp
// "<layer>/<weight>/Read/ReadVariableOp") and its ops under "<layer>/", with the
// attrs TensorFlow's op registry defines (Conv2D, MaxPool, AvgPool, Mean,
// FusedBatchNormV3, AddV2, ConcatV2, Reshape...). Batch normalization is
// exported in inference form, FusedBatchNormV3 with is_training=false over the
// moving statistics (not folded into the weights: the variables keep Keras's
// names and values, so variables/ matches the checkpoint). Shapes have been
// checked by LayerOutputShapes (layer_shapes.h) before. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "storage/saved_model/export_model.h"
#include "storage/saved_model/graph_builder.h"
#include "storage/saved_model/layer_shapes.h"

namespace shardtrain::storage::saved_model {

// Whether `activation` has a graph: linear, relu, sigmoid, tanh, softmax, gelu, gelu_approximate.
bool IsExportableActivation(const std::string& activation);

// Appends `activation` of tensor `x` under "<scope>/" (Relu, Sigmoid, Tanh,
// Softmax; tf.nn.gelu's graph for GELU); returns the output tensor (x for linear).
std::string AddActivation(GraphBuilder& b, const std::string& scope, const std::string& x,
                          const std::string& activation);

// Appends the nodes of `layer`, reading the tensors `inputs` whose shapes are
// `input_shapes`, and returns the layer's output tensor.
std::string AddLayerNodes(GraphBuilder& b, const ExportLayer& layer,
                          const std::vector<std::string>& inputs,
                          const std::vector<ExampleShape>& input_shapes);

// A Reshape of `x` to [-1, shape...] named `name` (its shape Const "<name>/shape").
std::string AddReshape(GraphBuilder& b, const std::string& name, const std::string& x,
                       const ExampleShape& shape);

}  // namespace shardtrain::storage::saved_model
