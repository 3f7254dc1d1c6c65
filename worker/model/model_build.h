// Internal to worker/model: what Model::Create uses to turn a ModelConfig
// into layers. ResolveLayerGraph (model_graph.cc) names every layer as Keras
// would and resolves LayerConfig.inputs into layer indices; BuildLayer
// (model_build.cc) fills one Model::Layer from its config with the help of one
// builder per kind (layer_builders.cc, conv_builders.cc, merge_builders.cc).
// Builders validate their fields (InvalidArgument naming the layer and field),
// add the layer's variables to the ParameterStore and size its buffers, each
// buffer first counted by LayerBuildContext::Reserve (ResourceExhausted naming
// the layer once the estimate passes this machine's memory).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/shape.h"
#include "common/status.h"
#include "proto/config.pb.h"
#include "worker/model/model.h"
#include "worker/model/parameter_store.h"

namespace shardtrain::model {

// The layers' Keras names and their producers, before any layer is built.
struct LayerGraph {
  std::vector<std::string> names;
  std::vector<std::vector<int>> inputs;  // per layer; Model::kModelInput = the model's input
  std::vector<int> consumers;            // per layer: how many inputs name it
};

// Names each layer (its configured name, else Keras's: dense, dense_1...) and
// resolves its inputs. InvalidArgument naming the layer when an input is
// unknown, names the layer itself or a later one, is ambiguous, when a kind
// gets the wrong number of inputs, or when a layer other than the last is
// consumed by none.
StatusOr<LayerGraph> ResolveLayerGraph(const config::ModelConfig& config,
                                       const std::string& input_name);

// What building one layer reads about its inputs, and updates.
struct LayerBuildContext {
  std::string where;                   // "model.layers[i]", for errors
  Shape input_shape;                   // one example of the (first) input
  std::vector<Shape> input_shapes;     // every input's, in order (Add, Concatenate)
  int64_t features = 0;                // input_shape's product
  bool flat = false;                   // the input has rank 1
  bool gradient_needed_below = false;  // a layer below has trainable variables
  bool dropout_output_below = false;   // the input is a dropout's own buffer, free to overwrite
  int64_t max_dropout_elements = 0;    // the largest dropout input, for the shared mask
  double bytes = 0;                    // the memory estimate so far
  double memory_limit = 0;
  int64_t max_batch = 0;
  ParameterStore* parameters = nullptr;
  kernels::KernelBackend* backend = nullptr;  // allocates every buffer

  // "model.layers[i] ('name')".
  std::string Where(const Model::Layer& layer) const { return where + " ('" + layer.name + "')"; }
  // Adds `more` bytes to the estimate, computed in double so that no size
  // overflows; ResourceExhausted naming `what` once it passes the machine's memory.
  Status Reserve(double more, const std::string& what);
  // Reserves then allocates `*buffer` as max_batch * `per_example` floats
  // of zeroed device memory named "<layer> <what>".
  Status SizeBatchBuffer(const Model::Layer& layer, int64_t per_example, const char* what,
                         kernels::DeviceBuffer* buffer);
  // Allocates `floats` zeroed floats of device memory named "<layer> <what>"
  // (ResourceExhausted from the backend naming it); reserves nothing.
  Status Allocate(const Model::Layer& layer, int64_t floats, const char* what,
                  kernels::DeviceBuffer* buffer);
  // Checks then sizes the output buffer, and the input gradient when a layer below needs it.
  Status SizeBuffers(Model::Layer* layer);
  // Checks the memory of `count` parameters before they are added.
  Status ReserveParameters(double count, const Model::Layer& layer);
};

// Fills `layer` (kind, output_shape, variables, buffers) from its config;
// the caller has set name, index, inputs, trainable, gradient_below and in_features.
using LayerBuilder = Status (*)(const config::LayerConfig& spec, LayerBuildContext* context,
                                Model::Layer* layer);

Status BuildLayer(const config::LayerConfig& spec, LayerBuildContext* context, Model::Layer* layer);

// One layer kind: its config field, Keras's default name and its builder.
struct LayerKindEntry {
  config::LayerConfig::KindCase kind;
  const char* field;       // the LayerConfig field, for errors
  const char* keras_name;  // the default name's base (custom layers: their class's)
  bool merges;             // takes two or more inputs (Add, Concatenate)
  LayerBuilder build;
};
// The entry of `kind`; null for a layer with no kind set.
const LayerKindEntry* FindLayerKind(config::LayerConfig::KindCase kind);
// "dense, dropout, ...": every kind's field, for errors.
std::string LayerKindFields();

// The builders, one per kind.
Status BuildDense(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildDropout(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildFlatten(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildActivation(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildCustom(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildReshape(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildConv2D(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildMaxPooling2D(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildAveragePooling2D(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildGlobalAveragePooling2D(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildBatchNormalization(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildAdd(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);
Status BuildConcatenate(const config::LayerConfig&, LayerBuildContext*, Model::Layer*);

// Shared by the builders.
StatusOr<kernels::Activation> ToKernelActivation(config::Activation activation,
                                                 const std::string& layer);
// Keras's L1/L2/L1L2 factors of a Dense or Conv2D kernel (`field` names it); finite and >= 0.
Status ReadRegularizer(const config::Regularizer& regularizer, const std::string& where,
                       const std::string& field, Model::Layer* layer);
// Keras's snake_case of a class name: "MyScale" -> "my_scale".
std::string SnakeCase(const std::string& name);

}  // namespace shardtrain::model
