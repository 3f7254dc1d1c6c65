// Inbound nodes and endpoints of Keras Functional model JSON (keras_json_graph.h).
#include "worker/model/keras_json_graph.h"

namespace shardtrain::model::keras_json {
namespace {

Status Unsupported(const std::string& where, const std::string& what) {
  return UnimplementedError(where + ": " + what + " is not supported");
}

// A call's keyword arguments that fix `training` (layer(x, training=True)):
// Keras then runs that layer in that mode whatever fit/predict ask (dropout at
// inference, BatchNormalization on moving statistics in training), which our
// layers do not model, so such a call is refused rather than run in fit's mode.
Status CheckNoTrainingArgument(const Json& kwargs, const std::string& where) {
  if (!kwargs.is_object()) return OkStatus();
  const auto training = kwargs.find("training");
  if (training == kwargs.end() || training->is_null()) return OkStatus();
  return Unsupported(where, "a call with training=" + training->dump() +
                                " (the layer fixed in training or inference mode)");
}

// One Keras 2 inbound tensor: ["name", node_index, tensor_index, kwargs].
StatusOr<std::string> Keras2TensorLayer(const Json& tensor, const std::string& where) {
  if (!tensor.is_array() || tensor.size() < 3 || !tensor[0].is_string() ||
      !tensor[1].is_number_integer() || !tensor[2].is_number_integer()) {
    return InvalidArgumentError(where + ": inbound tensor " + tensor.dump() +
                                " is not [\"layer name\", node index, tensor index, kwargs]");
  }
  if (tensor[2] != 0) return Unsupported(where, "an input from a layer with several outputs");
  if (tensor.size() > 3) RETURN_IF_ERROR(CheckNoTrainingArgument(tensor[3], where));
  return tensor[0].get<std::string>();
}

// One Keras 3 {"class_name": "__keras_tensor__", "config": {"keras_history": [name, n, t]}}.
StatusOr<std::string> Keras3TensorLayer(const Json& tensor, const std::string& where) {
  const bool valid = tensor.is_object() &&
                     tensor.value("class_name", Json()) == "__keras_tensor__" &&
                     tensor.contains("config") && tensor["config"].is_object() &&
                     tensor["config"].contains("keras_history");
  if (!valid) {
    return Unsupported(where, "an inbound argument other than a Keras tensor (" +
                                  tensor.dump().substr(0, 200) + ")");
  }
  return Keras2TensorLayer(tensor["config"]["keras_history"], where);
}

// Whether a Keras 3 kwargs value holds a Keras tensor (an extra input).
// Iterative, so no nesting of the value can exhaust the stack.
bool HoldsTensor(const Json& value) {
  std::vector<const Json*> pending{&value};
  while (!pending.empty()) {
    const Json& item = *pending.back();
    pending.pop_back();
    if (item.is_object()) {
      const auto class_name = item.find("class_name");
      if (class_name != item.end() && *class_name == "__keras_tensor__") return true;
    }
    if (item.is_array() || item.is_object()) {
      for (const Json& child : item) pending.push_back(&child);
    }
  }
  return false;
}

StatusOr<std::vector<std::string>> Keras3NodeLayers(const Json& node, const std::string& where) {
  if (!node.contains("args") || !node["args"].is_array() || node["args"].size() != 1) {
    return Unsupported(where, "an inbound node without exactly one argument");
  }
  if (node.contains("kwargs") && HoldsTensor(node["kwargs"])) {
    return Unsupported(where, "a Keras tensor passed as a keyword argument");
  }
  if (node.contains("kwargs")) RETURN_IF_ERROR(CheckNoTrainingArgument(node["kwargs"], where));
  const Json& arg = node["args"][0];
  const Json tensors = arg.is_array() ? arg : Json::array({arg});  // Add/Concatenate: a list
  std::vector<std::string> names;
  for (const Json& tensor : tensors) {
    ASSIGN_OR_RETURN(std::string name, Keras3TensorLayer(tensor, where));
    names.push_back(std::move(name));
  }
  return names;
}

}  // namespace

StatusOr<std::vector<std::string>> InboundLayerNames(const Json& entry, const std::string& where) {
  if (!entry.contains("inbound_nodes") || entry["inbound_nodes"].is_null()) {
    return std::vector<std::string>{};
  }
  const Json& nodes = entry["inbound_nodes"];
  if (!nodes.is_array()) return WrongType(where, "inbound_nodes", "a list", nodes);
  if (nodes.empty()) return std::vector<std::string>{};
  if (nodes.size() != 1) return Unsupported(where, "a layer called more than once (shared)");
  const Json& node = nodes[0];
  if (node.is_object()) return Keras3NodeLayers(node, where);
  if (!node.is_array() || node.empty()) {
    return WrongType(where, "inbound_nodes", "a list of inbound tensors", nodes);
  }
  std::vector<std::string> names;
  for (const Json& tensor : node) {
    ASSIGN_OR_RETURN(std::string name, Keras2TensorLayer(tensor, where));
    names.push_back(std::move(name));
  }
  return names;
}

StatusOr<std::vector<std::string>> EndpointLayerNames(const Json& model_config, const char* key,
                                                      const std::string& source) {
  std::vector<std::string> names;
  if (!model_config.is_object() || !Has(model_config, key)) return names;
  const Json& value = model_config[key];
  if (value.is_array() && value.size() >= 1 && value[0].is_string()) {  // a bare triple
    names.push_back(value[0].get<std::string>());
    return names;
  }
  if (!value.is_array() && !value.is_object()) {
    return WrongType(source, key, "a [name, node, tensor] triple or a list of them", value);
  }
  for (const Json& triple : value) {  // a list or dict of triples
    if (!triple.is_array() || triple.empty() || !triple[0].is_string()) {
      return WrongType(source, key, "a [name, node, tensor] triple or a list of them", value);
    }
    names.push_back(triple[0].get<std::string>());
  }
  return names;
}

}  // namespace shardtrain::model::keras_json
