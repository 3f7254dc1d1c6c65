#include "worker/model/layer_registry.h"

#include <map>
#include <mutex>

namespace shardtrain::model {
namespace {

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<std::string, LayerFactory>& Registry() {
  static auto* registry = new std::map<std::string, LayerFactory>();
  return *registry;
}

}  // namespace

void CustomLayer::Initialize(int64_t in, const std::vector<float*>& weights) const {
  const auto shapes = Weights(in);
  for (size_t i = 0; i < weights.size() && i < shapes.size(); ++i) {
    const int64_t n = shapes[i].second.num_elements();
    for (int64_t j = 0; j < n; ++j) weights[i][j] = 0.0f;
  }
}

Status RegisterLayer(const std::string& registered_name, LayerFactory factory) {
  if (registered_name.empty() || !factory) {
    return InvalidArgumentError("RegisterLayer needs a name such as \"my_pkg>MyLayer\" and a factory");
  }
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (!Registry().emplace(registered_name, std::move(factory)).second) {
    return AlreadyExistsError("a layer class is already registered as '" + registered_name + "'");
  }
  return OkStatus();
}

bool IsLayerRegistered(const std::string& registered_name) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  return Registry().count(registered_name) > 0;
}

StatusOr<std::unique_ptr<CustomLayer>> CreateCustomLayer(const std::string& registered_name,
                                                         const std::string& config_json) {
  LayerFactory factory;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto found = Registry().find(registered_name);
    if (found == Registry().end()) {
      return NotFoundError("unknown layer class '" + registered_name +
                           "': register it in C++ with shardtrain::model::RegisterLayer(\"" +
                           registered_name + "\", factory) before loading the model "
                           "(worker/model/layer_registry.h)");
    }
    factory = found->second;
  }
  auto layer = factory(config_json);
  if (!layer.ok()) return layer.status().WithContext("layer class '" + registered_name + "'");
  if (*layer == nullptr) {
    return InternalError("the factory of layer class '" + registered_name + "' returned null");
  }
  return layer;
}

}  // namespace shardtrain::model
