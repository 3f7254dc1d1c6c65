#include "worker/model/keras_json.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "worker/loss/loss.h"
#include "worker/optimizer/keras_optimizer_json.h"

namespace shardtrain::model {
namespace {

using Json = nlohmann::ordered_json;

const char* KerasActivationName(kernels::Activation activation) {
  switch (activation) {
    case kernels::Activation::kRelu:
      return "relu";
    case kernels::Activation::kSigmoid:
      return "sigmoid";
    case kernels::Activation::kTanh:
      return "tanh";
    case kernels::Activation::kSoftmax:
      return "softmax";
    case kernels::Activation::kGelu:
      return "gelu";
    case kernels::Activation::kGeluTanh:
      return "gelu_approximate";  // no Keras name (export refuses it); Keras fails loudly
    case kernels::Activation::kLinear:
      break;
  }
  return "linear";
}

// A Dense kernel_regularizer as Keras serializes it: null, L1, L2 or L1L2.
Json Regularizer(const Model::Layer& layer, bool keras3) {
  if (layer.l1 == 0.0f && layer.l2 == 0.0f) return nullptr;
  Json config;
  if (layer.l1 != 0.0f) config["l1"] = layer.l1;
  if (layer.l2 != 0.0f) config["l2"] = layer.l2;
  Json out;
  if (keras3) out["module"] = "keras.regularizers";
  out["class_name"] = layer.l1 == 0.0f ? "L2" : layer.l2 == 0.0f ? "L1" : "L1L2";
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

Json BatchShape(const std::vector<int64_t>& shape) {
  Json out = Json::array({nullptr});
  for (int64_t d : shape) out.push_back(d);
  return out;
}

Json Initializer(const char* class_name, Json config, bool keras3) {
  Json out;
  if (keras3) out["module"] = "keras.initializers";
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

// One layer entry: {"module", "class_name", "config", "registered_name", "build_config"} (Keras 3)
// or {"class_name", "config"} (Keras 2).
Json LayerEntry(const Model::Layer& layer, bool keras3,
                const std::vector<int64_t>* batch_input_shape) {
  Json config;
  config["name"] = layer.name;
  config["trainable"] = layer.trainable;
  config["dtype"] = "float32";
  if (!keras3 && batch_input_shape != nullptr) {
    config["batch_input_shape"] = BatchShape(*batch_input_shape);
  }
  std::string class_name, module = "keras.layers";
  Json registered = nullptr;
  bool build = false;
  switch (layer.kind) {
    case Model::LayerKind::kDense:
      class_name = "Dense";
      config["units"] = layer.out_features;
      config["activation"] = KerasActivationName(layer.activation);
      config["use_bias"] = layer.use_bias;
      config["kernel_initializer"] = Initializer("GlorotUniform", Json{{"seed", nullptr}}, keras3);
      config["bias_initializer"] = Initializer("Zeros", Json::object(), keras3);
      config["kernel_regularizer"] = Regularizer(layer, keras3);
      config["bias_regularizer"] = nullptr;
      if (!keras3) config["activity_regularizer"] = nullptr;
      config["kernel_constraint"] = nullptr;
      config["bias_constraint"] = nullptr;
      build = true;
      break;
    case Model::LayerKind::kDropout:
      class_name = "Dropout";
      config["rate"] = layer.rate;
      config["noise_shape"] = nullptr;
      config["seed"] = nullptr;
      break;
    case Model::LayerKind::kFlatten:
      class_name = "Flatten";
      config["data_format"] = "channels_last";
      break;
    case Model::LayerKind::kActivation:
      class_name = "Activation";
      config["activation"] = KerasActivationName(layer.activation);
      break;
    case Model::LayerKind::kCustom: {
      const std::string& name = layer.registered_name;
      class_name = name.substr(name.find('>') == std::string::npos ? 0 : name.find('>') + 1);
      module = "";
      registered = name;
      Json custom = Json::parse(layer.custom->ConfigJson(), nullptr, false);
      if (!custom.is_object()) custom = Json::object();
      for (auto& [key, value] : custom.items()) config[key] = value;
      build = true;
      if (!keras3) class_name = name;  // tf.keras puts the registered name into class_name
      break;
    }
  }
  Json entry;
  if (keras3) entry["module"] = module.empty() ? Json(nullptr) : Json(module);
  entry["class_name"] = class_name;
  entry["config"] = std::move(config);
  if (keras3) {
    entry["registered_name"] = registered;
    if (build) {
      entry["build_config"] = Json{{"input_shape", Json::array({nullptr, layer.in_features})}};
    }
  }
  return entry;
}

Json LossConfig(const config::LossConfig& loss, bool keras3) {
  Json config;
  std::string class_name;
  switch (loss.kind_case()) {
    case config::LossConfig::kCategoricalCrossentropy:
      class_name = "CategoricalCrossentropy";
      config["name"] = "categorical_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.categorical_crossentropy().from_logits();
      config["label_smoothing"] = loss.categorical_crossentropy().label_smoothing();
      config["axis"] = -1;
      break;
    case config::LossConfig::kMeanSquaredError:
      class_name = "MeanSquaredError";
      config["name"] = "mean_squared_error";
      config["reduction"] = "sum_over_batch_size";
      break;
    case config::LossConfig::kBinaryCrossentropy:
      class_name = "BinaryCrossentropy";
      config["name"] = "binary_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.binary_crossentropy().from_logits();
      config["label_smoothing"] = loss.binary_crossentropy().label_smoothing();
      config["axis"] = -1;
      break;
    default:
      class_name = "SparseCategoricalCrossentropy";
      config["name"] = "sparse_categorical_crossentropy";
      config["reduction"] = "sum_over_batch_size";
      config["from_logits"] = loss.sparse_categorical_crossentropy().from_logits();
      config["ignore_class"] = nullptr;
      if (keras3) config["axis"] = -1;
      break;
  }
  Json out;
  if (keras3) out["module"] = "keras.losses";
  out["class_name"] = class_name;
  out["config"] = std::move(config);
  if (keras3) out["registered_name"] = nullptr;
  return out;
}

// The metric object Keras resolves "accuracy" to for this job, from the
// shapes as Keras 3's compile_utils.get_metric does: BinaryAccuracy for a
// one-unit output, CategoricalAccuracy for VECTOR labels, otherwise
// SparseCategoricalAccuracy (class ids).
Json AccuracyMetric(const config::JobConfig& job, bool keras3) {
  Json m;
  if (keras3) m["module"] = "keras.metrics";
  if (loss::OutputUnits(job.loss(), job.data()) == 1) {
    m["class_name"] = "BinaryAccuracy";
    m["config"] = Json{{"name", "binary_accuracy"}, {"dtype", "float32"}, {"threshold", 0.5}};
  } else if (loss::HasVectorLabels(job.data())) {
    m["class_name"] = "CategoricalAccuracy";
    m["config"] = Json{{"name", "categorical_accuracy"}, {"dtype", "float32"}};
  } else {
    m["class_name"] = "SparseCategoricalAccuracy";
    m["config"] = Json{{"name", "sparse_categorical_accuracy"}, {"dtype", "float32"}};
  }
  if (keras3) m["registered_name"] = nullptr;
  return m;
}

Json Metrics(const config::JobConfig& job, bool keras3) {
  Json metrics = Json::array();
  for (const std::string& metric : job.metrics()) {
    if (metric == "accuracy") metrics.push_back(AccuracyMetric(job, keras3));
  }
  return metrics;
}

// ---- reading ----

Status Bad(const std::string& source, const std::string& what) {
  return InvalidArgumentError(source + ": " + what);
}

// "<where>: <key> must be <what>, got <value>".
Status WrongType(const std::string& where, const char* key, const char* what, const Json& value) {
  return InvalidArgumentError(where + ": " + key + " must be " + what + ", got " + value.dump());
}

// An optional boolean field: absent or null leaves `*out` as it is.
Status ReadBool(const Json& config, const char* key, const std::string& where, bool* out) {
  if (!config.contains(key) || config[key].is_null()) return OkStatus();
  if (!config[key].is_boolean()) return WrongType(where, key, "true or false", config[key]);
  *out = config[key].get<bool>();
  return OkStatus();
}

StatusOr<config::Activation> ParseActivation(const Json& value, const std::string& where) {
  std::string name;
  if (value.is_string()) {
    name = value.get<std::string>();
  } else if (value.is_object() && value.contains("config") && value["config"].is_string()) {
    name = value["config"].get<std::string>();  // Keras 3 function object
  } else if (!value.is_null()) {
    return WrongType(where, "activation", "a name such as \"relu\"", value);
  }
  if (name == "linear" || name.empty()) return config::LINEAR;
  if (name == "relu") return config::RELU;
  if (name == "sigmoid") return config::SIGMOID;
  if (name == "tanh") return config::TANH;
  if (name == "softmax") return config::SOFTMAX;
  if (name == "gelu") return config::GELU;  // Keras's gelu: approximate=False
  return InvalidArgumentError(where + ": unsupported activation '" + name +
                              "' (supported: linear, relu, sigmoid, tanh, softmax, gelu)");
}

// The class of a Keras object ({"class_name": ...} or a bare name string), or "".
std::string ObjectClass(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("class_name") && value["class_name"].is_string()) {
    return value["class_name"].get<std::string>();
  }
  return "";
}

// Initializers are checked, not followed: new weights are always glorot_uniform
// and zeros (weights usually come from --init-from). Unknown classes are errors.
Status CheckInitializer(const Json& config, const char* key, const std::string& where) {
  if (!config.contains(key) || config[key].is_null()) return OkStatus();
  // Keras's class names, compared without case and underscores ("he_normal" = "HeNormal").
  static const char* const kKnown[] = {"glorotuniform",   "glorotnormal", "heuniform",
                                       "henormal",        "lecununiform", "lecunnormal",
                                       "zeros",           "ones",         "constant",
                                       "randomuniform",   "randomnormal", "truncatednormal",
                                       "variancescaling", "orthogonal",   "identity"};
  std::string normalized;
  for (char c : ObjectClass(config[key])) {
    if (c != '_') normalized += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const char* known : kKnown) {
    if (normalized == known) return OkStatus();
  }
  return InvalidArgumentError(where + ": " + key + " " + config[key].dump() +
                              " is not a Keras initializer we know");
}

// A factor of an L1/L2/L1L2 config: absent or null is `fallback`; else a finite number >= 0.
Status ReadFactor(const Json& config, const char* key, double fallback, const std::string& where,
                  float* out) {
  if (!config.contains(key) || config[key].is_null()) {
    *out = static_cast<float>(fallback);
    return OkStatus();
  }
  const Json& value = config[key];
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0) {
    return WrongType(where, key, "a finite number >= 0", value);
  }
  *out = value.get<float>();
  return OkStatus();
}

// kernel_regularizer: null, or Keras's L1, L2 or L1L2 (defaults as Keras's:
// 0.01 for L1 and L2, 0 for each factor of L1L2).
Status ParseRegularizer(const Json& value, const std::string& where, config::Regularizer* out) {
  if (value.is_null()) return OkStatus();
  const std::string class_name = ObjectClass(value);
  const std::string field = where + ": kernel_regularizer";
  if (!value.is_object() || (class_name != "L1" && class_name != "L2" && class_name != "L1L2")) {
    return InvalidArgumentError(field + " " + value.dump() +
                                " is not supported (supported: null, L1, L2, L1L2)");
  }
  const Json config = value.contains("config") ? value["config"] : Json::object();
  if (!config.is_object()) return WrongType(field, "config", "an object", config);
  float l1 = 0, l2 = 0;
  if (class_name != "L2")
    RETURN_IF_ERROR(ReadFactor(config, "l1", class_name == "L1" ? 0.01 : 0, field, &l1));
  if (class_name != "L1")
    RETURN_IF_ERROR(ReadFactor(config, "l2", class_name == "L2" ? 0.01 : 0, field, &l2));
  out->set_l1(l1);
  out->set_l2(l2);
  return OkStatus();
}

// A regularizer whose factors are all zero (old Keras wrote L1L2(0, 0)) is no regularizer.
bool IsZeroRegularizer(const Json& value) {
  config::Regularizer factors;
  return value.is_object() && ParseRegularizer(value, "", &factors).ok() && factors.l1() == 0 &&
         factors.l2() == 0;
}

// Options we cannot honour must be absent or null.
Status RequireNull(const Json& config, const char* key, const std::string& where) {
  if (config.contains(key) && !config[key].is_null() && !IsZeroRegularizer(config[key])) {
    return InvalidArgumentError(where + ": option " + key + " = " + config[key].dump() +
                                " is not supported");
  }
  return OkStatus();
}

StatusOr<std::vector<int64_t>> ShapeWithoutBatch(const Json& shape, const std::string& where) {
  if (!shape.is_array() || shape.empty()) {
    return InvalidArgumentError(where + ": bad input shape " + shape.dump());
  }
  std::vector<int64_t> dims;
  for (size_t i = 1; i < shape.size(); ++i) {
    if (!shape[i].is_number_integer() || shape[i].get<int64_t>() <= 0) {
      return InvalidArgumentError(where + ": input shape " + shape.dump() +
                                  " must be fixed apart from the batch dimension");
    }
    dims.push_back(shape[i].get<int64_t>());
  }
  return dims;
}

const Json* InputShapeOf(const Json& layer_config) {
  for (const char* key : {"batch_shape", "batch_input_shape"}) {
    if (layer_config.contains(key) && layer_config[key].is_array()) return &layer_config[key];
  }
  return nullptr;
}

// The previous layer's name of a Functional layer entry, or "" when it has none.
StatusOr<std::string> SingleInbound(const Json& entry, const std::string& where) {
  if (!entry.contains("inbound_nodes") || !entry["inbound_nodes"].is_array() ||
      entry["inbound_nodes"].empty()) {
    return std::string();
  }
  const Json& nodes = entry["inbound_nodes"];
  if (nodes.size() != 1) {
    return UnimplementedError(where + " is called more than once (shared layer)");
  }
  const Json& node = nodes[0];
  if (node.is_array()) {  // Keras 2: [[name, node, tensor, kwargs], ...]
    if (node.size() != 1 || !node[0].is_array() || node[0].empty() || !node[0][0].is_string()) {
      return UnimplementedError(where + " has several inputs; only linear chains are supported");
    }
    return node[0][0].get<std::string>();
  }
  if (node.is_object() && node.contains("args") && node["args"].is_array() &&
      node["args"].size() == 1) {  // Keras 3: {"args": [keras_tensor], "kwargs": {}}
    const Json& tensor = node["args"][0];
    if (tensor.is_object() && tensor.contains("config") && tensor["config"].is_object() &&
        tensor["config"].contains("keras_history")) {
      const Json& history = tensor["config"]["keras_history"];
      if (history.is_array() && !history.empty() && history[0].is_string()) {
        return history[0].get<std::string>();
      }
    }
  }
  return UnimplementedError(
      where + " has an input form we do not follow; only linear chains are supported");
}

// Builds one LayerConfig from a built-in Keras layer class's `config`;
// `where` names the layer in errors.
using KerasLayerParser = Status (*)(const Json& config, const std::string& where,
                                    config::LayerConfig* layer);

Status ParseDense(const Json& config, const std::string& where, config::LayerConfig* layer) {
  if (!config.contains("units")) return InvalidArgumentError(where + ": units is missing");
  const Json& units = config["units"];
  // A huge count passes here; Model::Create then names the memory it would need.
  if (!units.is_number_integer() ||
      (units.is_number_unsigned() && units.get<uint64_t>() > INT64_MAX) ||
      units.get<int64_t>() <= 0) {
    return WrongType(where, "units", "a positive integer", units);
  }
  config::DenseLayer* dense = layer->mutable_dense();
  dense->set_units(units.get<int64_t>());
  ASSIGN_OR_RETURN(config::Activation activation,
                   ParseActivation(config.value("activation", Json("linear")), where));
  dense->set_activation(activation);
  if (config.contains("use_bias") && !config["use_bias"].is_null()) {
    bool use_bias = true;
    RETURN_IF_ERROR(ReadBool(config, "use_bias", where, &use_bias));
    dense->set_use_bias(use_bias);
  }
  RETURN_IF_ERROR(CheckInitializer(config, "kernel_initializer", where));
  RETURN_IF_ERROR(CheckInitializer(config, "bias_initializer", where));
  if (config.contains("kernel_regularizer")) {
    config::Regularizer factors;
    RETURN_IF_ERROR(ParseRegularizer(config["kernel_regularizer"], where, &factors));
    // Zero factors (old Keras wrote L1L2(0, 0)) leave the field unset, as no regularizer.
    if (factors.l1() != 0 || factors.l2() != 0) *dense->mutable_kernel_regularizer() = factors;
  }
  for (const char* key : {"bias_regularizer", "activity_regularizer", "kernel_constraint",
                          "bias_constraint", "lora_rank"}) {
    RETURN_IF_ERROR(RequireNull(config, key, where));
  }
  return OkStatus();
}

Status ParseDropout(const Json& config, const std::string& where, config::LayerConfig* layer) {
  if (config.contains("rate")) {
    const Json& rate = config["rate"];
    if (!rate.is_number() || !(rate.get<double>() >= 0.0 && rate.get<double>() < 1.0)) {
      return WrongType(where, "rate", "a number in [0, 1)", rate);
    }
    layer->mutable_dropout()->set_rate(rate.get<float>());
  } else {
    layer->mutable_dropout();
  }
  if (config.contains("seed") && !config["seed"].is_null() && !config["seed"].is_number_integer()) {
    return WrongType(where, "seed", "an integer or null", config["seed"]);
  }
  return RequireNull(config, "noise_shape", where);
}

Status ParseFlatten(const Json& config, const std::string& where, config::LayerConfig* layer) {
  if (config.contains("data_format") && !config["data_format"].is_null() &&
      !config["data_format"].is_string()) {
    return WrongType(where, "data_format", "a string", config["data_format"]);
  }
  layer->mutable_flatten();
  return OkStatus();
}

Status ParseActivationLayer(const Json& config, const std::string& where,
                            config::LayerConfig* layer) {
  ASSIGN_OR_RETURN(config::Activation activation,
                   ParseActivation(config.value("activation", Json("linear")), where));
  layer->mutable_activation()->set_activation(activation);
  return OkStatus();
}

struct KerasLayerClass {
  const char* class_name;
  KerasLayerParser parse;
};

// The one list of built-in Keras layer classes read (besides InputLayer): a
// new kind is a parser above and an entry here.
constexpr KerasLayerClass kKerasLayerClasses[] = {
    {"Dense", &ParseDense},
    {"Dropout", &ParseDropout},
    {"Flatten", &ParseFlatten},
    {"Activation", &ParseActivationLayer},
};

// Any other class: one registered with RegisterLayer under the entry's
// registered_name (else its class_name); its config minus the base-layer keys
// is kept as JSON for the factory.
Status ParseRegisteredLayer(const Json& entry, const std::string& class_name,
                            const std::string& where, config::LayerConfig* layer) {
  std::string registered = entry.contains("registered_name") && entry["registered_name"].is_string()
                               ? entry["registered_name"].get<std::string>()
                               : class_name;
  if (!IsLayerRegistered(registered)) {
    std::string module = entry.contains("module") && entry["module"].is_string()
                             ? ", module '" + entry["module"].get<std::string>() + "'"
                             : "";
    std::string supported = "InputLayer";
    for (const KerasLayerClass& known : kKerasLayerClasses) {
      supported += ", " + std::string(known.class_name);
    }
    return InvalidArgumentError(
        where + ": unsupported layer class '" + class_name + "' (registered_name '" + registered +
        "'" + module + "); supported are " + supported +
        ", or register a C++ implementation with shardtrain::model::RegisterLayer(\"" + registered +
        "\", factory)");
  }
  layer->mutable_custom()->set_registered_name(registered);
  Json custom_config = entry["config"];
  for (const char* key : {"name", "trainable", "dtype", "batch_input_shape", "batch_shape"}) {
    custom_config.erase(key);
  }
  layer->mutable_custom()->set_config_json(custom_config.dump());
  return OkStatus();
}

// The layer list of a model JSON: "config" itself (Keras <= 2.2.2
// Sequential) or "config"."layers".
StatusOr<const Json*> LayerList(const Json& root, const std::string& source) {
  if (root.contains("config") && root["config"].is_array()) return &root["config"];
  if (root.contains("config") && root["config"].is_object() && root["config"].contains("layers") &&
      root["config"]["layers"].is_array()) {
    return &root["config"]["layers"];
  }
  return Bad(source, "the model config has no layer list");
}

// Reads layer entry `index` into `out`: its input shape when `out` has none
// yet, and a LayerConfig unless it is an InputLayer. For a Functional model
// (`previous` not null) the entry must read from the layer before it.
Status AppendKerasLayer(const Json& entry, size_t index, const std::string& source,
                        std::string* previous, config::ModelConfig* out) {
  if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string() ||
      !entry.contains("config") || !entry["config"].is_object()) {
    return Bad(source, "layer entry " + std::to_string(index) + " has no class_name/config");
  }
  const std::string class_name = entry["class_name"].get<std::string>();
  const Json& config = entry["config"];
  const std::string name = config.contains("name") && config["name"].is_string()
                               ? config["name"].get<std::string>()
                               : "";
  const std::string where = source + ": layer '" + name + "' (" + class_name + ")";
  if (config.contains("name") && !config["name"].is_null() && !config["name"].is_string()) {
    return WrongType(where, "name", "a string", config["name"]);
  }
  bool trainable = true;
  RETURN_IF_ERROR(ReadBool(config, "trainable", where, &trainable));
  if (config.contains("dtype") && !config["dtype"].is_null() && !config["dtype"].is_string() &&
      !config["dtype"].is_object()) {
    return WrongType(where, "dtype", "a string or a DTypePolicy", config["dtype"]);
  }
  if (previous != nullptr) {
    ASSIGN_OR_RETURN(std::string inbound, SingleInbound(entry, where));
    if (class_name != "InputLayer" && inbound != *previous) {
      return UnimplementedError(where + " reads '" + inbound + "', not the layer before it ('" +
                                *previous + "'); only linear chains are supported");
    }
    *previous = name;
  }
  if (config.contains("dtype") && config["dtype"].is_string() &&
      config["dtype"].get<std::string>() != "float32") {
    return InvalidArgumentError(where + ": dtype " + config["dtype"].dump() +
                                " is not supported (float32 only)");
  }
  if (out->input_shape_size() == 0) {
    if (const Json* shape = InputShapeOf(config)) {
      ASSIGN_OR_RETURN(std::vector<int64_t> dims, ShapeWithoutBatch(*shape, where));
      for (int64_t d : dims) out->add_input_shape(d);
    }
  }
  if (class_name == "InputLayer") return OkStatus();
  config::LayerConfig* layer = out->add_layers();
  layer->set_name(name);
  // Only a frozen layer sets the field: an absent one means trainable, as before.
  if (!trainable) layer->set_trainable(false);
  for (const KerasLayerClass& known : kKerasLayerClasses) {
    if (class_name == known.class_name) return known.parse(config, where, layer);
  }
  return ParseRegisteredLayer(entry, class_name, where, layer);
}

}  // namespace

std::string KerasModelJson(const config::JobConfig& job, const Model& model, KerasJsonFlavor flavor,
                           bool compile, bool to_json) {
  const bool keras3 = flavor == KerasJsonFlavor::kKeras3;
  std::vector<int64_t> input_shape(job.model().input_shape().begin(),
                                   job.model().input_shape().end());
  Json layers = Json::array();
  const std::string first_name = model.layers().empty() ? "dense" : model.layers()[0].name;
  Json input_config;
  input_config[keras3 ? "batch_shape" : "batch_input_shape"] = BatchShape(input_shape);
  input_config["dtype"] = "float32";
  input_config["sparse"] = false;
  if (!keras3) input_config["ragged"] = false;
  input_config["name"] = keras3 ? "input_layer" : first_name + "_input";
  Json input;
  if (keras3) input["module"] = "keras.layers";
  input["class_name"] = "InputLayer";
  input["config"] = std::move(input_config);
  if (keras3) input["registered_name"] = nullptr;
  layers.push_back(std::move(input));
  for (size_t i = 0; i < model.layers().size(); ++i) {
    layers.push_back(LayerEntry(model.layers()[i], keras3, i == 0 ? &input_shape : nullptr));
  }
  Json config;
  config["name"] = "sequential";
  if (keras3) {
    config["trainable"] = true;
    config["dtype"] = "float32";
  }
  config["layers"] = std::move(layers);
  if (keras3) config["build_input_shape"] = BatchShape(input_shape);
  Json root;
  if (keras3) root["module"] = "keras";
  root["class_name"] = "Sequential";
  root["config"] = std::move(config);
  if (keras3) {
    root["registered_name"] = nullptr;
    root["build_config"] = Json{{"input_shape", BatchShape(input_shape)}};
    if (compile) {
      root["compile_config"] =
          Json{{"optimizer", optimizer::KerasOptimizerJson(job.optimizer(), true)},
               {"loss", LossConfig(job.loss(), true)},
               {"loss_weights", nullptr},
               {"metrics", Metrics(job, true)},
               {"weighted_metrics", nullptr}};
    }
  } else if (to_json) {
    root["keras_version"] = "2.12.0";
    root["backend"] = "tensorflow";
  }
  return root.dump();
}

std::string KerasTrainingConfigJson(const config::JobConfig& job) {
  Json metrics = Json::array();
  metrics.push_back(Metrics(job, false));  // tf.keras: one list per output
  Json root{{"loss", LossConfig(job.loss(), false)},
            {"metrics", std::move(metrics)},
            {"weighted_metrics", nullptr},
            {"loss_weights", nullptr},
            {"optimizer_config", optimizer::KerasOptimizerJson(job.optimizer(), false)}};
  return root.dump();
}

namespace {

StatusOr<config::ModelConfig> ParseKerasModelJson(const std::string& text,
                                                  const std::string& source) {
  Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Bad(source, "not valid JSON");
  if (!root.is_object() || !root.contains("class_name") || !root["class_name"].is_string()) {
    return Bad(source, "not a Keras model JSON (no top-level class_name)");
  }
  const std::string model_class = root["class_name"].get<std::string>();
  const bool sequential = model_class == "Sequential";
  if (!sequential && model_class != "Functional" && model_class != "Model") {
    return Bad(source, "unsupported model class '" + model_class +
                           "' (supported: Sequential and linear Functional models)");
  }
  ASSIGN_OR_RETURN(const Json* layers, LayerList(root, source));
  config::ModelConfig out;
  std::string previous;  // Functional: the layer the next one must read from
  for (size_t i = 0; i < layers->size(); ++i) {
    RETURN_IF_ERROR(
        AppendKerasLayer((*layers)[i], i, source, sequential ? nullptr : &previous, &out));
  }
  if (out.input_shape_size() == 0) {
    return Bad(source,
               "no input shape (no InputLayer and no batch_input_shape on the first layer)");
  }
  if (out.layers_size() == 0) return Bad(source, "the model has no layers besides its input");
  // Keras: model.trainable = False freezes every layer.
  const Json& model_config = root["config"];
  if (model_config.is_object() && model_config.contains("trainable") &&
      model_config["trainable"].is_boolean() && !model_config["trainable"].get<bool>()) {
    for (config::LayerConfig& layer : *out.mutable_layers()) layer.set_trainable(false);
  }
  return out;
}

}  // namespace

StatusOr<config::ModelConfig> ModelConfigFromKerasJson(const std::string& text,
                                                       const std::string& source) {
  // Every field is type-checked above; this only keeps a missed one from aborting.
  try {
    return ParseKerasModelJson(text, source);
  } catch (const nlohmann::json::exception& error) {
    return Bad(source, std::string("unexpected JSON structure: ") + error.what());
  }
}

}  // namespace shardtrain::model
