// The built-in Keras layer classes that ModelConfigFromKerasJson reads, one
// parser per class: each turns a layer's Keras `config` object into a
// LayerConfig (name, trainable and inputs are set by the caller), checking
// every field it reads (keras_json_fields.h) and refusing options we cannot
// honour with InvalidArgument naming the layer and the field. Pure functions;
// thread-safe. Internal to worker/model's Keras JSON code.
#pragma once

#include <string>

#include "worker/model/keras_json_fields.h"

namespace shardtrain::model::keras_json {

// What a parser knows besides the config: `where` names the file and layer in
// errors; `input_rank` is the rank of one input example (3 for (h, w, c)),
// -1 when unknown (after a registered custom layer).
struct LayerContext {
  std::string where;
  int input_rank = -1;
};

using KerasLayerParser = Status (*)(const Json& config, const LayerContext& context,
                                    config::LayerConfig* layer);

// The parser of a built-in class name (InputLayer excluded), or nullptr.
KerasLayerParser FindKerasLayerParser(const std::string& class_name);

// "InputLayer, Dense, Dropout, ..." for error messages.
std::string SupportedKerasLayerClasses();

// The rank of one example of `layer`'s output given its input's rank (-1 unknown).
int OutputRank(const config::LayerConfig& layer, int input_rank);

// Parsers of keras_json_conv_layers.cc (the image and graph layers).
Status ParseConv2D(const Json& config, const LayerContext& context, config::LayerConfig* layer);
Status ParseMaxPooling2D(const Json& config, const LayerContext& context,
                         config::LayerConfig* layer);
Status ParseAveragePooling2D(const Json& config, const LayerContext& context,
                             config::LayerConfig* layer);
Status ParseGlobalAveragePooling2D(const Json& config, const LayerContext& context,
                                   config::LayerConfig* layer);
Status ParseReshape(const Json& config, const LayerContext& context, config::LayerConfig* layer);
Status ParseBatchNormalization(const Json& config, const LayerContext& context,
                               config::LayerConfig* layer);
Status ParseAdd(const Json& config, const LayerContext& context, config::LayerConfig* layer);
Status ParseConcatenate(const Json& config, const LayerContext& context,
                        config::LayerConfig* layer);

}  // namespace shardtrain::model::keras_json
