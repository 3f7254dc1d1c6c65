// The dense-model Keras layer parsers (Dense, Dropout, Flatten, Activation)
// and the one table of built-in classes (keras_json_layers.h).
#include "worker/model/keras_json_layers.h"

namespace shardtrain::model::keras_json {
namespace {

Status ParseDense(const Json& config, const LayerContext& context, config::LayerConfig* layer) {
  const std::string& where = context.where;
  int64_t units = 0;
  // A huge count passes here; Model::Create then names the memory it would need.
  RETURN_IF_ERROR(ReadPositiveInt(config, "units", where, &units));
  ASSIGN_OR_RETURN(KernelOptions options, ParseKernelOptions(config, where));
  config::DenseLayer* dense = layer->mutable_dense();
  dense->set_units(units);
  dense->set_activation(options.activation);
  if (options.has_use_bias) dense->set_use_bias(options.use_bias);
  if (options.has_regularizer) *dense->mutable_kernel_regularizer() = options.regularizer;
  return OkStatus();
}

Status ParseDropout(const Json& config, const LayerContext& context, config::LayerConfig* layer) {
  const std::string& where = context.where;
  config::DropoutLayer* dropout = layer->mutable_dropout();
  if (config.contains("rate")) {
    const Json& rate = config["rate"];
    if (!rate.is_number() || !(rate.get<double>() >= 0.0 && rate.get<double>() < 1.0)) {
      return WrongType(where, "rate", "a number in [0, 1)", rate);
    }
    dropout->set_rate(rate.get<float>());
  }
  if (Has(config, "seed") && !config["seed"].is_number_integer()) {
    return WrongType(where, "seed", "an integer or null", config["seed"]);
  }
  return RequireNull(config, "noise_shape", where);
}

// Flatten keeps the memory order: channels_last only (channels_first would transpose).
Status ParseFlatten(const Json& config, const LayerContext& context, config::LayerConfig* layer) {
  RETURN_IF_ERROR(RequireChannelsLast(config, context.where));
  layer->mutable_flatten();
  return OkStatus();
}

Status ParseActivationLayer(const Json& config, const LayerContext& context,
                            config::LayerConfig* layer) {
  ASSIGN_OR_RETURN(config::Activation activation,
                   ParseActivation(config.value("activation", Json("linear")), context.where));
  layer->mutable_activation()->set_activation(activation);
  return OkStatus();
}

struct KerasLayerClass {
  const char* class_name;
  KerasLayerParser parse;
};

// The one list of built-in Keras layer classes read (besides InputLayer): a
// new kind is a parser and an entry here.
constexpr KerasLayerClass kKerasLayerClasses[] = {
    {"Dense", &ParseDense},
    {"Dropout", &ParseDropout},
    {"Flatten", &ParseFlatten},
    {"Activation", &ParseActivationLayer},
    {"Conv2D", &ParseConv2D},
    {"MaxPooling2D", &ParseMaxPooling2D},
    {"AveragePooling2D", &ParseAveragePooling2D},
    {"GlobalAveragePooling2D", &ParseGlobalAveragePooling2D},
    {"Reshape", &ParseReshape},
    {"BatchNormalization", &ParseBatchNormalization},
    {"Add", &ParseAdd},
    {"Concatenate", &ParseConcatenate},
};

}  // namespace

KerasLayerParser FindKerasLayerParser(const std::string& class_name) {
  for (const KerasLayerClass& known : kKerasLayerClasses) {
    if (class_name == known.class_name) return known.parse;
  }
  return nullptr;
}

std::string SupportedKerasLayerClasses() {
  std::string supported = "InputLayer";
  for (const KerasLayerClass& known : kKerasLayerClasses) {
    supported += ", " + std::string(known.class_name);
  }
  return supported;
}

int OutputRank(const config::LayerConfig& layer, int input_rank) {
  switch (layer.kind_case()) {
    case config::LayerConfig::kConv2D:
    case config::LayerConfig::kMaxPooling2D:
    case config::LayerConfig::kAveragePooling2D:
      return 3;
    case config::LayerConfig::kGlobalAveragePooling2D:
      return layer.global_average_pooling2d().keepdims() ? 3 : 1;
    case config::LayerConfig::kReshape:
      return layer.reshape().target_shape_size();
    case config::LayerConfig::kFlatten:
      return 1;
    case config::LayerConfig::kCustom:
      return -1;
    default:
      return input_rank;  // Dense, Dropout, Activation, BatchNormalization, Add, Concatenate
  }
}

}  // namespace shardtrain::model::keras_json
