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

// A layer's weight as a node of the graph, for its slot variables.
struct WeightNode {
  int node, layer, weight;
  std::string path;  // "layer_with_weights-0/kernel"
};

// Builds one layout, level by level in the breadth-first order of the header.
class LayoutBuilder {
 public:
  LayoutBuilder(const std::vector<KerasLayerSpec>& layers, const KerasOptimizerSpec* optimizer)
      : layers_(layers),
        optimizer_(optimizer),
        nodes_(*layout_.graph.mutable_nodes()),
        layer_node_(layers.size()),
        layer_path_(layers.size()) {}

  KerasCheckpointLayout Build() && {
    nodes_.Add();  // 0: the model
    AddLayersAndOptimizer();
    AddWeights();
    if (optimizer_ != nullptr) {
      AddHyperParameters();
      AddSlots();  // after every breadth-first node
      nodes_[optimizer_node_].mutable_has_checkpoint_values()->set_value(
          !optimizer_->hyper_parameters.empty() || !weights_.empty());
    }
    for (size_t i = 0; i < layers_.size(); ++i) {
      nodes_[layer_node_[i]].mutable_has_checkpoint_values()->set_value(
          !layers_[i].weights.empty());
    }
    nodes_[0].mutable_has_checkpoint_values()->set_value(!layout_.variables.empty());
    return std::move(layout_);
  }

 private:
  // Level 1: the layers (`layer_with_weights-j` and `layer-i` edges), then the optimizer.
  void AddLayersAndOptimizer() {
    int with_weights = 0;
    for (size_t i = 0; i < layers_.size(); ++i) {
      layer_node_[i] = nodes_.size();
      nodes_.Add();
      if (!layers_[i].weights.empty()) {
        layer_path_[i] = "layer_with_weights-" + std::to_string(with_weights++);
        AddChild(&nodes_[0], layer_node_[i], layer_path_[i]);
      } else {
        layer_path_[i] = "layer-" + std::to_string(i);
      }
      AddChild(&nodes_[0], layer_node_[i], "layer-" + std::to_string(i));
    }
    if (optimizer_ != nullptr) {
      optimizer_node_ = nodes_.size();
      nodes_.Add();
      AddChild(&nodes_[0], optimizer_node_, "optimizer");
    }
  }

  // Level 2, first part: each layer's variables.
  void AddWeights() {
    for (size_t i = 0; i < layers_.size(); ++i) {
      for (size_t w = 0; w < layers_[i].weights.size(); ++w) {
        const std::string& name = layers_[i].weights[w];
        const int id = nodes_.size();
        AddChild(&nodes_[layer_node_[i]], id, name);
        const std::string path = layer_path_[i] + "/" + EscapeObjectPathComponent(name);
        KerasCheckpointVariable v;
        v.kind = KerasCheckpointVariable::Kind::kWeight;
        v.key = path + kAttributeSuffix;
        v.full_name = layers_[i].name + "/" + name;
        v.layer = static_cast<int>(i);
        v.weight = static_cast<int>(w);
        AddVariableNode(v);
        weights_.push_back({id, static_cast<int>(i), static_cast<int>(w), path});
      }
    }
  }

  // Level 2, second part: the optimizer's own variables.
  void AddHyperParameters() {
    for (size_t h = 0; h < optimizer_->hyper_parameters.size(); ++h) {
      const std::string& name = optimizer_->hyper_parameters[h];
      AddChild(&nodes_[optimizer_node_], nodes_.size(), name);
      KerasCheckpointVariable v;
      v.kind = KerasCheckpointVariable::Kind::kHyperParameter;
      v.key = "optimizer/" + EscapeObjectPathComponent(name) + kAttributeSuffix;
      v.full_name = optimizer_->name + "/" + name;
      v.hyper_parameter = static_cast<int>(h);
      AddVariableNode(v);
    }
  }

  // The slot variables, slot by slot, weight by weight.
  void AddSlots() {
    for (size_t s = 0; s < optimizer_->slot_names.size(); ++s) {
      const std::string& slot = optimizer_->slot_names[s];
      for (const WeightNode& weight : weights_) {
        if (!HasSlots(weight)) continue;
        auto* reference = nodes_[optimizer_node_].add_slot_variables();
        reference->set_original_variable_node_id(weight.node);
        reference->set_slot_name(slot);
        reference->set_slot_variable_node_id(nodes_.size());
        const KerasLayerSpec& layer = layers_[static_cast<size_t>(weight.layer)];
        KerasCheckpointVariable v;
        v.kind = KerasCheckpointVariable::Kind::kSlot;
        v.key = weight.path + "/.OPTIMIZER_SLOT/optimizer/" + EscapeObjectPathComponent(slot) +
                kAttributeSuffix;
        v.full_name = optimizer_->name + "/" + layer.name + "/" +
                      layer.weights[static_cast<size_t>(weight.weight)] + "/" + slot;
        v.layer = weight.layer;
        v.weight = weight.weight;
        v.slot = static_cast<int>(s);
        AddVariableNode(v);
      }
    }
  }

  // Whether the optimizer keeps slots for `weight`.
  bool HasSlots(const WeightNode& weight) const {
    const std::vector<bool>& trainable = layers_[static_cast<size_t>(weight.layer)].trainable;
    return trainable.empty() || trainable[static_cast<size_t>(weight.weight)];
  }

  // A new node holding variable `v`, which joins the layout's list.
  void AddVariableNode(const KerasCheckpointVariable& v) {
    AddVariableAttribute(nodes_.Add(), v.full_name, v.key);
    layout_.variables.push_back(v);
  }

  const std::vector<KerasLayerSpec>& layers_;
  const KerasOptimizerSpec* optimizer_;
  KerasCheckpointLayout layout_;
  google::protobuf::RepeatedPtrField<TrackableObject>& nodes_;
  std::vector<int> layer_node_;
  std::vector<std::string> layer_path_;
  int optimizer_node_ = -1;
  std::vector<WeightNode> weights_;
};

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
  return LayoutBuilder(layers, optimizer).Build();
}

}  // namespace shardtrain::storage
