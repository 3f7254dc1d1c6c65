#include "storage/keras/keras_config_scan.h"

#include <nlohmann/json.hpp>

namespace shardtrain::storage::keras {
namespace {

using Json = nlohmann::json;

// The layer list of a model config JSON (either form); null when it has none.
const Json* ConfigLayers(const Json& root) {
  if (!root.is_object() || !root.contains("config")) return nullptr;
  const Json& config = root["config"];
  if (config.is_array()) return &config;
  if (config.is_object() && config.contains("layers") && config["layers"].is_array()) {
    return &config["layers"];
  }
  return nullptr;
}

// The string at `key` of an object; empty when absent or not a string (a
// mistyped field must not throw: these scans never fail).
std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto value = object.find(key);
  return value != object.end() && value->is_string() ? value->get<std::string>() : "";
}

bool IsFalse(const Json& config, const char* key) {
  return config.is_object() && config.contains(key) && config[key].is_boolean() &&
         !config[key].get<bool>();
}

// A layer config's flags that decide its weights (Keras defaults when absent).
KerasLayerOptions OptionsOf(const Json& layer_config) {
  KerasLayerOptions options;
  options.center = !IsFalse(layer_config, "center");
  options.scale = !IsFalse(layer_config, "scale");
  return options;
}

}  // namespace

std::set<std::string> FrozenLayers(const std::string& config_json) {
  std::set<std::string> frozen;
  const Json root = Json::parse(config_json, nullptr, false);
  const Json* layers = ConfigLayers(root);
  if (layers == nullptr) return frozen;
  const bool model_frozen = IsFalse(root["config"], "trainable");
  for (const Json& entry : *layers) {
    if (!entry.is_object() || !entry.contains("config")) continue;
    const Json& c = entry["config"];
    if (c.is_object() && c.contains("name") && c["name"].is_string() &&
        (model_frozen || IsFalse(c, "trainable"))) {
      frozen.insert(c["name"].get<std::string>());
    }
  }
  return frozen;
}

void MarkFrozen(const std::set<std::string>& frozen, std::vector<KerasLayerWeights>* layers) {
  for (KerasLayerWeights& layer : *layers) layer.trainable = frozen.count(layer.name) == 0;
}

std::map<std::string, std::string> ClassesFromConfig(const std::string& config_json) {
  std::map<std::string, std::string> classes;
  const Json root = Json::parse(config_json, nullptr, false);
  const Json* layers = ConfigLayers(root);
  if (layers == nullptr) return classes;
  for (const Json& entry : *layers) {
    if (!entry.is_object() || !entry.contains("config") || !entry["config"].is_object()) continue;
    const Json& c = entry["config"];
    if (c.contains("name") && c["name"].is_string() && entry.contains("class_name") &&
        entry["class_name"].is_string()) {
      classes[c["name"].get<std::string>()] = entry["class_name"].get<std::string>();
    }
  }
  return classes;
}

std::vector<WalkedLayer> Keras3Walk(const std::string& config_json) {
  std::vector<WalkedLayer> out;
  Json root = Json::parse(config_json, nullptr, false);
  if (!root.is_object() || !root.contains("config") || !root["config"].is_object()) return out;
  const bool sequential = StringField(root, "class_name") == "Sequential";
  const Json& layers = root["config"]["layers"];
  if (!layers.is_array()) return out;
  for (const Json& entry : layers) {
    if (!entry.is_object()) continue;
    WalkedLayer layer;
    layer.class_name = StringField(entry, "class_name");
    if (sequential && layer.class_name == "InputLayer") continue;
    if (entry.contains("config") && entry["config"].is_object()) {
      layer.name = StringField(entry["config"], "name");
      layer.options = OptionsOf(entry["config"]);
    }
    out.push_back(std::move(layer));
  }
  return out;
}

}  // namespace shardtrain::storage::keras
