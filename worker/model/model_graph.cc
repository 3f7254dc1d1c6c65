// ResolveLayerGraph (model_build.h): Keras default names and LayerConfig.inputs
// resolved into layer indices, with the graph rules checked before any
// layer is built.
#include <map>

#include "worker/model/model_build.h"

namespace shardtrain::model {
namespace {

// The configured name, else Keras's: base, base_1, base_2... counted per
// kind (per class for custom layers). A layer with no kind gets "layer".
std::string LayerName(const config::LayerConfig& spec, std::map<std::string, int>* counts) {
  if (!spec.name().empty()) return spec.name();
  const LayerKindEntry* entry = FindLayerKind(spec.kind_case());
  if (entry == nullptr) return "layer";
  std::string base = entry->keras_name, counter_key = base;
  if (spec.kind_case() == config::LayerConfig::kCustom) {
    const std::string& registered = spec.custom().registered_name();
    const size_t separator = registered.find('>');
    const std::string class_name =
        registered.substr(separator == std::string::npos ? 0 : separator + 1);
    base = SnakeCase(class_name);
    counter_key = "custom:" + class_name;  // counted apart from the built-in kinds
  }
  int& counter = (*counts)[counter_key];
  std::string name = counter == 0 ? base : base + "_" + std::to_string(counter);
  ++counter;
  return name;
}

std::string Where(int i, const std::string& name) {
  return "model.layers[" + std::to_string(i) + "] ('" + name + "')";
}

// The index `input` names for layer i: an earlier layer or Model::kModelInput.
StatusOr<int> ResolveInput(const std::string& input, int i, const LayerGraph& graph,
                           const std::string& input_name) {
  if (input == input_name) return Model::kModelInput;
  int found = -1, matches = 0;
  for (int j = 0; j < static_cast<int>(graph.names.size()); ++j) {
    if (graph.names[j] != input) continue;
    if (found < 0) found = j;
    ++matches;
  }
  const std::string where = Where(i, graph.names[static_cast<size_t>(i)]);
  if (found < 0) {
    return InvalidArgumentError(where + ": inputs names '" + input +
                                "', which is neither a layer of the model nor its input ('" +
                                input_name + "', model.input_name)");
  }
  if (found >= i) {
    return InvalidArgumentError(where + ": inputs names '" + input +
                                "', which is not listed before it (list layers in the order "
                                "they run: each layer after its inputs)");
  }
  if (matches > 1) {
    return InvalidArgumentError(where + ": inputs names '" + input + "', which " +
                                std::to_string(matches) +
                                " layers are called; give them "
                                "distinct names");
  }
  return found;
}

// Checks the number of inputs of layer i: two or more for Add/Concatenate, else one.
Status CheckInputCount(const config::LayerConfig& spec, int i, const LayerGraph& graph) {
  const LayerKindEntry* entry = FindLayerKind(spec.kind_case());
  if (entry == nullptr) return OkStatus();  // BuildLayer names the missing kind
  const size_t count = graph.inputs[static_cast<size_t>(i)].size();
  if (entry->merges && count < 2) {
    return InvalidArgumentError(Where(i, graph.names[static_cast<size_t>(i)]) + ": " +
                                entry->field + " needs two or more inputs, got " +
                                std::to_string(count));
  }
  if (!entry->merges && count != 1) {
    return InvalidArgumentError(Where(i, graph.names[static_cast<size_t>(i)]) + ": " +
                                entry->field + " takes exactly one input, got " +
                                std::to_string(count));
  }
  return OkStatus();
}

}  // namespace

StatusOr<LayerGraph> ResolveLayerGraph(const config::ModelConfig& config,
                                       const std::string& input_name) {
  LayerGraph graph;
  std::map<std::string, int> counts;
  const int n = config.layers_size();
  for (int i = 0; i < n; ++i) graph.names.push_back(LayerName(config.layers(i), &counts));
  graph.inputs.resize(static_cast<size_t>(n));
  graph.consumers.assign(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) {
    const config::LayerConfig& spec = config.layers(i);
    std::vector<int>& inputs = graph.inputs[static_cast<size_t>(i)];
    if (spec.inputs().empty()) inputs.push_back(i == 0 ? Model::kModelInput : i - 1);
    for (const std::string& input : spec.inputs()) {
      ASSIGN_OR_RETURN(const int producer, ResolveInput(input, i, graph, input_name));
      inputs.push_back(producer);
    }
    RETURN_IF_ERROR(CheckInputCount(spec, i, graph));
    for (int producer : inputs) {
      if (producer != Model::kModelInput) ++graph.consumers[static_cast<size_t>(producer)];
    }
  }
  for (int i = 0; i + 1 < n; ++i) {
    if (graph.consumers[static_cast<size_t>(i)] > 0) continue;
    return InvalidArgumentError(Where(i, graph.names[static_cast<size_t>(i)]) +
                                ": no later layer takes its output, and only the last layer "
                                "is the model's output; name it in a later layer's inputs or "
                                "remove it");
  }
  return graph;
}

}  // namespace shardtrain::model
