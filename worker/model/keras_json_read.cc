// ModelConfigFromKerasJson (keras_json.h): Keras model JSON -> ModelConfig.
// Sequential layers form a chain. Functional layers keep their graph: a layer
// that reads exactly the layer listed before it (the model's input for the
// first) leaves LayerConfig.inputs empty, so a linear Functional model reads
// as the same chain as before; any other layer lists its inputs by name, and
// then ModelConfig.input_name is the InputLayer's name.
#include <map>

#include "storage/keras/json_nesting.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_json_graph.h"
#include "worker/model/keras_json_layers.h"

namespace shardtrain::model {
namespace {

using keras_json::Json;

Status Bad(const std::string& source, const std::string& what) {
  return InvalidArgumentError(source + ": " + what);
}

// The state of one read: what the layers read so far define.
struct Reader {
  std::string source;
  bool functional = false;
  config::ModelConfig* out = nullptr;
  std::string input_name;              // the InputLayer's name
  std::string previous;                // the name of the layer listed last (or the input)
  std::map<std::string, int> rank_of;  // example rank of each output read so far (-1 unknown)
};

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

// Sets the model's input shape from `config` when it carries one and none is set yet.
Status ReadInputShape(const Json& config, const std::string& where, Reader* reader) {
  if (reader->out->input_shape_size() != 0) return OkStatus();
  for (const char* key : {"batch_shape", "batch_input_shape"}) {
    if (!config.contains(key) || !config[key].is_array()) continue;
    ASSIGN_OR_RETURN(std::vector<int64_t> dims, ShapeWithoutBatch(config[key], where));
    for (int64_t d : dims) reader->out->add_input_shape(d);
    return OkStatus();
  }
  return OkStatus();
}

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
    return InvalidArgumentError(
        where + ": unsupported layer class '" + class_name + "' (registered_name '" + registered +
        "'" + module + "); supported are " + keras_json::SupportedKerasLayerClasses() +
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

// The base-layer keys every entry may carry: name, trainable, dtype (float32).
Status CheckBaseKeys(const Json& config, const std::string& where, bool* trainable) {
  if (keras_json::Has(config, "name") && !config["name"].is_string()) {
    return keras_json::WrongType(where, "name", "a string", config["name"]);
  }
  RETURN_IF_ERROR(keras_json::ReadBool(config, "trainable", where, trainable));
  if (!keras_json::Has(config, "dtype")) return OkStatus();
  const Json& dtype = config["dtype"];
  if (!dtype.is_string() && !dtype.is_object()) {
    return keras_json::WrongType(where, "dtype", "a string or a DTypePolicy", dtype);
  }
  if (dtype.is_string() && dtype.get<std::string>() != "float32") {
    return InvalidArgumentError(where + ": dtype " + dtype.dump() +
                                " is not supported (float32 only)");
  }
  return OkStatus();
}

// The inputs of a Functional layer: each must be listed before it; a single
// input that is the layer listed just before stays implicit. Returns the
// example rank of its (first) input.
StatusOr<int> ReadInbound(const Json& entry, const std::string& where, Reader* reader,
                          config::LayerConfig* layer) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, keras_json::InboundLayerNames(entry, where));
  if (names.empty()) return InvalidArgumentError(where + ": has no inbound_nodes (no input)");
  for (const std::string& name : names) {
    if (reader->rank_of.count(name) == 0) {
      return InvalidArgumentError(where + ": reads '" + name +
                                  "', which is not a layer listed before it");
    }
  }
  if (names.size() != 1 || names[0] != reader->previous) {
    for (const std::string& name : names) layer->add_inputs(name);
  }
  return reader->rank_of[names[0]];
}

// The InputLayer entry: the input's name and shape. One only.
Status ReadInputLayer(const Json& config, const std::string& name, const std::string& where,
                      Reader* reader) {
  if (!reader->input_name.empty() || reader->out->layers_size() > 0) {
    return UnimplementedError(where +
                              ": a second input (models with several inputs are not "
                              "supported) or an InputLayer after other layers");
  }
  reader->input_name = name.empty() ? "input" : name;
  RETURN_IF_ERROR(ReadInputShape(config, where, reader));
  reader->previous = reader->input_name;
  reader->rank_of[reader->input_name] = reader->out->input_shape_size();
  return OkStatus();
}

// Reads layer entry `index` into reader->out.
Status AppendKerasLayer(const Json& entry, size_t index, Reader* reader) {
  if (!entry.is_object() || !entry.contains("class_name") || !entry["class_name"].is_string() ||
      !entry.contains("config") || !entry["config"].is_object()) {
    return Bad(reader->source,
               "layer entry " + std::to_string(index) + " has no class_name/config");
  }
  const std::string class_name = entry["class_name"].get<std::string>();
  const Json& config = entry["config"];
  const std::string name = config.contains("name") && config["name"].is_string()
                               ? config["name"].get<std::string>()
                               : "";
  const std::string where = reader->source + ": layer '" + name + "' (" + class_name + ")";
  bool trainable = true;
  RETURN_IF_ERROR(CheckBaseKeys(config, where, &trainable));
  if (class_name == "InputLayer") return ReadInputLayer(config, name, where, reader);
  RETURN_IF_ERROR(ReadInputShape(config, where, reader));  // Sequential without an InputLayer
  if (!name.empty() && reader->rank_of.count(name) != 0) {
    return InvalidArgumentError(where + ": the name is used by an earlier layer");
  }
  config::LayerConfig* layer = reader->out->add_layers();
  layer->set_name(name);
  // Only a frozen layer sets the field: an absent one means trainable, as before.
  if (!trainable) layer->set_trainable(false);
  keras_json::LayerContext context{where, reader->out->input_shape_size()};
  if (reader->functional) {
    ASSIGN_OR_RETURN(context.input_rank, ReadInbound(entry, where, reader, layer));
  } else if (reader->out->layers_size() > 1) {
    context.input_rank = reader->rank_of[reader->previous];
  }
  if (keras_json::KerasLayerParser parse = keras_json::FindKerasLayerParser(class_name)) {
    RETURN_IF_ERROR(parse(config, context, layer));
  } else {
    RETURN_IF_ERROR(ParseRegisteredLayer(entry, class_name, where, layer));
  }
  reader->rank_of[name] = keras_json::OutputRank(*layer, context.input_rank);
  reader->previous = name;
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

// A Functional model has one input and one output, its last layer.
Status CheckEndpoints(const Json& model_config, const config::ModelConfig& out,
                      const std::string& source) {
  ASSIGN_OR_RETURN(std::vector<std::string> inputs,
                   keras_json::EndpointLayerNames(model_config, "input_layers", source));
  ASSIGN_OR_RETURN(std::vector<std::string> outputs,
                   keras_json::EndpointLayerNames(model_config, "output_layers", source));
  if (inputs.size() > 1 || outputs.size() > 1) {
    return UnimplementedError(source +
                              ": models with several inputs or outputs are not "
                              "supported (input_layers " +
                              std::to_string(inputs.size()) + ", output_layers " +
                              std::to_string(outputs.size()) + ")");
  }
  const std::string& last = out.layers(out.layers_size() - 1).name();
  if (!outputs.empty() && outputs[0] != last) {
    return InvalidArgumentError(source + ": the output layer '" + outputs[0] +
                                "' is not the last layer listed ('" + last + "')");
  }
  return OkStatus();
}

StatusOr<config::ModelConfig> ParseKerasModelJson(const std::string& text,
                                                  const std::string& source) {
  // Bounded first: the checks below copy and print parts of the tree recursively.
  RETURN_IF_ERROR(
      storage::keras::CheckJsonNesting(text, storage::keras::kMaxKerasJsonDepth, source));
  Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Bad(source, "not valid JSON");
  if (!root.is_object() || !root.contains("class_name") || !root["class_name"].is_string()) {
    return Bad(source, "not a Keras model JSON (no top-level class_name)");
  }
  const std::string model_class = root["class_name"].get<std::string>();
  const bool sequential = model_class == "Sequential";
  if (!sequential && model_class != "Functional" && model_class != "Model") {
    return Bad(source, "unsupported model class '" + model_class +
                           "' (supported: Sequential and Functional models)");
  }
  ASSIGN_OR_RETURN(const Json* layers, LayerList(root, source));
  config::ModelConfig out;
  Reader reader{source, !sequential, &out, "", "", {}};
  for (size_t i = 0; i < layers->size(); ++i) {
    RETURN_IF_ERROR(AppendKerasLayer((*layers)[i], i, &reader));
  }
  if (out.input_shape_size() == 0) {
    return Bad(source,
               "no input shape (no InputLayer and no batch_input_shape on the first layer)");
  }
  if (out.layers_size() == 0) return Bad(source, "the model has no layers besides its input");
  if (!sequential) RETURN_IF_ERROR(CheckEndpoints(root["config"], out, source));
  for (const config::LayerConfig& layer : out.layers()) {
    if (layer.inputs_size() > 0) out.set_input_name(reader.input_name);
  }
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
  // Every field is type-checked; this only keeps a missed one from aborting.
  try {
    return ParseKerasModelJson(text, source);
  } catch (const nlohmann::json::exception& error) {
    return Bad(source, std::string("unexpected JSON structure: ") + error.what());
  }
}

}  // namespace shardtrain::model
