#include "storage/checkpoint/keras_object_graph.h"

namespace shardtrain::storage {
namespace {

using TrackableObject = tf::TrackableObjectGraph::TrackableObject;
constexpr char kAttributeSuffix[] = "/.ATTRIBUTES/VARIABLE_VALUE";

void AddChild(TrackableObject* node, int id, const std::string& name) {
  auto* child = node->add_children();
  child->set_node_id(id);
  child->set_local_name(name);
}

void AddVariableAttribute(TrackableObject* node, const std::string& full_name,
                          const std::string& key) {
  auto* attribute = node->add_attributes();
  attribute->set_name("VARIABLE_VALUE");
  attribute->set_full_name(full_name);
  attribute->set_checkpoint_key(key);
  node->mutable_has_checkpoint_values()->set_value(true);
}

}  // namespace

std::string EscapeObjectPathComponent(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '.') {
      out += "..";
    } else if (c == '/') {
      out += ".S";
    } else {
      out += c;
    }
  }
  return out;
}

KerasCheckpointLayout BuildKerasCheckpointLayout(const std::vector<KerasLayerSpec>& layers,
                                                 const KerasOptimizerSpec* optimizer) {
  KerasCheckpointLayout layout;
  auto& nodes = *layout.graph.mutable_nodes();
  nodes.Add();  // 0: the model
  // Breadth-first level 1: the layers, then the optimizer.
  std::vector<int> layer_node(layers.size());
  std::vector<std::string> layer_path(layers.size());
  int with_weights = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    layer_node[i] = nodes.size();
    nodes.Add();
    if (!layers[i].weights.empty()) {
      layer_path[i] = "layer_with_weights-" + std::to_string(with_weights++);
      AddChild(&nodes[0], layer_node[i], layer_path[i]);
    } else {
      layer_path[i] = "layer-" + std::to_string(i);
    }
    AddChild(&nodes[0], layer_node[i], "layer-" + std::to_string(i));
  }
  int optimizer_node = -1;
  if (optimizer != nullptr) {
    optimizer_node = nodes.size();
    nodes.Add();
    AddChild(&nodes[0], optimizer_node, "optimizer");
  }
  // Level 2: each layer's variables, then the optimizer's.
  struct Weight {
    int node, layer, weight;
    std::string path;
  };
  std::vector<Weight> weights;
  for (size_t i = 0; i < layers.size(); ++i) {
    for (size_t w = 0; w < layers[i].weights.size(); ++w) {
      const std::string& name = layers[i].weights[w];
      int id = nodes.size();
      AddChild(&nodes[layer_node[i]], id, name);
      std::string path = layer_path[i] + "/" + EscapeObjectPathComponent(name);
      std::string key = path + kAttributeSuffix;
      AddVariableAttribute(nodes.Add(), layers[i].name + "/" + name, key);
      weights.push_back({id, static_cast<int>(i), static_cast<int>(w), path});
      KerasCheckpointVariable v;
      v.kind = KerasCheckpointVariable::Kind::kWeight;
      v.key = key;
      v.full_name = layers[i].name + "/" + name;
      v.layer = static_cast<int>(i);
      v.weight = static_cast<int>(w);
      layout.variables.push_back(v);
    }
  }
  if (optimizer != nullptr) {
    for (size_t h = 0; h < optimizer->hyper_parameters.size(); ++h) {
      const std::string& name = optimizer->hyper_parameters[h];
      int id = nodes.size();
      AddChild(&nodes[optimizer_node], id, name);
      KerasCheckpointVariable v;
      v.kind = KerasCheckpointVariable::Kind::kHyperParameter;
      v.key = "optimizer/" + EscapeObjectPathComponent(name) + kAttributeSuffix;
      v.full_name = optimizer->name + "/" + name;
      v.hyper_parameter = static_cast<int>(h);
      AddVariableAttribute(nodes.Add(), v.full_name, v.key);
      layout.variables.push_back(v);
    }
    // Slot variables come after every breadth-first node.
    for (size_t s = 0; s < optimizer->slot_names.size(); ++s) {
      const std::string& slot = optimizer->slot_names[s];
      for (const Weight& weight : weights) {
        int id = nodes.size();
        auto* reference = nodes[optimizer_node].add_slot_variables();
        reference->set_original_variable_node_id(weight.node);
        reference->set_slot_name(slot);
        reference->set_slot_variable_node_id(id);
        const KerasLayerSpec& layer = layers[static_cast<size_t>(weight.layer)];
        KerasCheckpointVariable v;
        v.kind = KerasCheckpointVariable::Kind::kSlot;
        v.key = weight.path + "/.OPTIMIZER_SLOT/optimizer/" + EscapeObjectPathComponent(slot) +
                kAttributeSuffix;
        v.full_name = optimizer->name + "/" + layer.name + "/" +
                      layer.weights[static_cast<size_t>(weight.weight)] + "/" + slot;
        v.layer = weight.layer;
        v.weight = weight.weight;
        v.slot = static_cast<int>(s);
        AddVariableAttribute(nodes.Add(), v.full_name, v.key);
        layout.variables.push_back(v);
      }
    }
    nodes[optimizer_node].mutable_has_checkpoint_values()->set_value(
        !optimizer->hyper_parameters.empty() || !weights.empty());
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    nodes[layer_node[i]].mutable_has_checkpoint_values()->set_value(!layers[i].weights.empty());
  }
  nodes[0].mutable_has_checkpoint_values()->set_value(!layout.variables.empty());
  return layout;
}

}  // namespace shardtrain::storage
