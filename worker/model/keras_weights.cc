#include "worker/model/keras_weights.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "worker/model/keras_layer_order.h"

namespace shardtrain::model {
namespace {

std::string KerasClassName(const Model::Layer& layer) {
  switch (layer.kind) {
    case Model::LayerKind::kDense: return "Dense";
    case Model::LayerKind::kDropout: return "Dropout";
    case Model::LayerKind::kFlatten: return "Flatten";
    case Model::LayerKind::kActivation: return "Activation";
    case Model::LayerKind::kCustom: {
      const std::string& name = layer.registered_name;
      return name.substr(name.find('>') == std::string::npos ? 0 : name.find('>') + 1);
    }
    case Model::LayerKind::kConv2D: return "Conv2D";
    case Model::LayerKind::kMaxPooling2D: return "MaxPooling2D";
    case Model::LayerKind::kAveragePooling2D: return "AveragePooling2D";
    case Model::LayerKind::kGlobalAveragePooling2D: return "GlobalAveragePooling2D";
    case Model::LayerKind::kReshape: return "Reshape";
    case Model::LayerKind::kBatchNormalization: return "BatchNormalization";
    case Model::LayerKind::kAdd: return "Add";
    case Model::LayerKind::kConcatenate: return "Concatenate";
  }
  return "Layer";
}

std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string out = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    out += (i ? ", " : "") + std::to_string(dims[i]);
  }
  return out + (dims.size() == 1 ? ",)" : ")");
}

std::string List(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

// Whether a file's weight name is a real name, not an index the file gave.
bool IsKerasName(const std::string& name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
}

// Checks a file layer's `weights` against `layer`'s variables (count, shape,
// and for BatchNormalization the names the file knows, since gamma and beta
// have one shape) and appends (variable, values) pairs to `assignments`.
Status MatchLayerWeights(const Model::Layer& layer,
                         const std::vector<storage::keras::KerasWeight>& weights,
                         const ParameterStore& params,
                         std::vector<std::pair<int, const std::vector<float>*>>* assignments) {
  const auto variables = KerasLayerVariables(layer);
  if (weights.size() != variables.size()) {
    return InvalidArgumentError("layer '" + layer.name + "' has " +
                                std::to_string(variables.size()) + " weights but the file has " +
                                std::to_string(weights.size()) + " for it");
  }
  for (size_t i = 0; i < variables.size(); ++i) {
    const std::string& name = variables[i].first;
    const VariableInfo& info = params.variable(variables[i].second);
    if (layer.kind == Model::LayerKind::kBatchNormalization && IsKerasName(weights[i].name) &&
        weights[i].name != name) {
      return InvalidArgumentError("layer '" + layer.name + "': the model's weight " +
                                  std::to_string(i) + " is '" + name + "' but the file's is '" +
                                  weights[i].name + "' (center/scale differ?)");
    }
    if (weights[i].shape != info.shape.dims()) {
      return InvalidArgumentError("layer '" + layer.name + "', weight '" + name +
                                  "': the model has shape " + ShapeText(info.shape.dims()) +
                                  " but the file has " + ShapeText(weights[i].shape));
    }
    assignments->emplace_back(variables[i].second, &weights[i].values);
  }
  return OkStatus();
}

// Whether host code may use the store's memory in place (the CPU backend).
bool HostReadable(const ParameterStore& params) {
  return params.backend() == nullptr || params.backend()->host_reads_device_memory();
}

// Slot `index` of `opt` readable by the host: the slot itself where the host
// reads the optimizer's memory, otherwise one copy held in `*copy`.
StatusOr<const float*> HostSlot(const optimizer::Optimizer& opt, size_t index,
                                std::vector<float>* copy) {
  if (opt.slots_host_readable()) return static_cast<const float*>(opt.slot_data(index));
  copy->resize(static_cast<size_t>(opt.slot_size()));
  RETURN_IF_ERROR(opt.CopySlotToHost(index, 0, opt.slot_size(), copy->data()));
  return static_cast<const float*>(copy->data());
}

// Adam's state for the Keras file: iterations, learning rate, and m and v of
// the trainable variables `order` (indices into `params`).
Status AddAdamState(const optimizer::Optimizer& opt, const ParameterStore& params,
                    const std::vector<int>& order, storage::keras::KerasOptimizerState* out) {
  out->present = true;
  out->iterations = opt.iterations();
  out->learning_rate = opt.learning_rate();
  out->learning_rate_variable = opt.schedule().is_constant();
  out->name = opt.keras_class_name() == "AdamW" ? "adamw" : "adam";
  if (order.empty()) return OkStatus();
  std::vector<float> m_copy, v_copy;
  ASSIGN_OR_RETURN(const float* m, HostSlot(opt, 0, &m_copy));
  ASSIGN_OR_RETURN(const float* v, HostSlot(opt, 1, &v_copy));
  for (int index : order) {
    const VariableInfo& info = params.variable(index);
    const int64_t begin = info.trainable_offset;
    const int64_t end = begin + info.shape.num_elements();
    out->m.emplace_back(m + begin, m + end);
    out->v.emplace_back(v + begin, v + end);
  }
  return OkStatus();
}

// Writes each (variable, values) of `assignments` into the store: in place
// where the host reads its memory, otherwise into one host snapshot copied
// back whole.
Status WriteVariables(const std::vector<std::pair<int, const std::vector<float>*>>& assignments,
                      ParameterStore& params) {
  if (HostReadable(params)) {
    for (const auto& [index, values] : assignments) {
      std::copy(values->begin(), values->end(), params.param(index));
    }
    return OkStatus();
  }
  if (assignments.empty()) return OkStatus();
  std::vector<float> host(static_cast<size_t>(params.size()));
  RETURN_IF_ERROR(params.CopyParamsToHost(host.data()));
  for (const auto& [index, values] : assignments) {
    std::copy(values->begin(), values->end(), host.begin() + params.variable(index).offset);
  }
  return params.CopyParamsFromHost(host.data());
}

}  // namespace

std::vector<std::pair<std::string, int>> KerasLayerVariables(const Model::Layer& layer) {
  std::vector<std::pair<std::string, int>> out;
  if (layer.kernel_variable >= 0) out.emplace_back("kernel", layer.kernel_variable);
  if (layer.bias_variable >= 0) out.emplace_back("bias", layer.bias_variable);
  if (layer.kind == Model::LayerKind::kBatchNormalization) {
    if (layer.gamma_variable >= 0) out.emplace_back("gamma", layer.gamma_variable);
    if (layer.beta_variable >= 0) out.emplace_back("beta", layer.beta_variable);
    out.emplace_back("moving_mean", layer.moving_mean_variable);
    out.emplace_back("moving_variance", layer.moving_variance_variable);
  }
  if (layer.kind == Model::LayerKind::kCustom) {
    const auto names = layer.custom->Weights(layer.in_features);
    for (size_t i = 0; i < names.size(); ++i) {
      out.emplace_back(names[i].first, layer.custom_variables[i]);
    }
  }
  return out;
}

bool IsKerasFunctional(const Model& model) {
  const std::vector<Model::Layer>& layers = model.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const int previous = i == 0 ? Model::kModelInput : static_cast<int>(i) - 1;
    if (layers[i].inputs != std::vector<int>{previous}) return true;
  }
  return false;
}

StatusOr<const float*> HostParams(const ParameterStore& params, std::vector<float>* copy) {
  if (HostReadable(params)) return static_cast<const float*>(params.params());
  copy->resize(static_cast<size_t>(params.size()));
  RETURN_IF_ERROR(params.CopyParamsToHost(copy->data()));
  return static_cast<const float*>(copy->data());
}

StatusOr<storage::keras::KerasModelFile> ToKerasModelFile(const Model& model,
                                                          const optimizer::Optimizer* optimizer) {
  // Keras matches a file's layers to model.layers by position, in its own
  // order: refuse (FailedPrecondition) a graph listed in another order.
  RETURN_IF_ERROR(CheckKerasLayerOrder(model));
  storage::keras::KerasModelFile file;
  const ParameterStore& params = model.parameters();
  std::vector<float> copy;
  ASSIGN_OR_RETURN(const float* host, HostParams(params, &copy));
  std::vector<int> order;  // trainable variables in model order
  for (const Model::Layer& layer : model.layers()) {
    storage::keras::KerasLayerWeights out;
    out.name = layer.name;
    out.class_name = KerasClassName(layer);
    out.trainable = layer.trainable;
    for (const auto& [name, index] : KerasLayerVariables(layer)) {
      const VariableInfo& info = params.variable(index);
      storage::keras::KerasWeight weight;
      weight.name = name;
      weight.trainable = info.trainable;
      weight.shape = info.shape.dims();
      const float* values = host + info.offset;
      weight.values.assign(values, values + info.shape.num_elements());
      out.weights.push_back(std::move(weight));
      if (info.trainable) order.push_back(index);
    }
    file.layers.push_back(std::move(out));
  }
  if (optimizer != nullptr && optimizer->kind() == optimizer::Optimizer::Kind::kAdam) {
    RETURN_IF_ERROR(AddAdamState(*optimizer, params, order, &file.optimizer));
  }
  return file;
}

std::string WeightLoadReport::Describe() const {
  return "loaded weights of " + std::to_string(loaded.size()) + " layer(s): " + List(loaded) +
         "; not in the file (kept as initialized): " + List(not_in_file) +
         "; in the file but not in the model (ignored): " + List(not_in_model);
}

StatusOr<WeightLoadReport> LoadWeightsByName(const storage::keras::KerasModelFile& file,
                                             Model* model) {
  std::map<std::string, const storage::keras::KerasLayerWeights*> by_name;
  for (const auto& layer : file.layers) {
    if (!layer.weights.empty()) by_name[layer.name] = &layer;
  }
  WeightLoadReport report;
  ParameterStore& params = model->parameters();
  // Check everything first, so a mismatch changes nothing.
  std::vector<std::pair<int, const std::vector<float>*>> assignments;
  for (const Model::Layer& layer : model->layers()) {
    if (KerasLayerVariables(layer).empty()) continue;
    auto found = by_name.find(layer.name);
    if (found == by_name.end()) {
      report.not_in_file.push_back(layer.name);
      continue;
    }
    RETURN_IF_ERROR(MatchLayerWeights(layer, found->second->weights, params, &assignments));
    report.loaded.push_back(layer.name);
    by_name.erase(found);
  }
  for (const auto& [name, layer] : by_name) report.not_in_model.push_back(name);
  RETURN_IF_ERROR(WriteVariables(assignments, params));
  return report;
}

StatusOr<std::vector<std::vector<float>>> GetWeights(const Model& model) {
  std::vector<std::vector<float>> out;
  const ParameterStore& params = model.parameters();
  std::vector<float> copy;
  ASSIGN_OR_RETURN(const float* host, HostParams(params, &copy));
  for (const VariableInfo& info : params.variables()) {
    const float* values = host + info.offset;
    out.emplace_back(values, values + info.shape.num_elements());
  }
  return out;
}

Status SetWeights(const std::vector<std::vector<float>>& weights, Model* model) {
  ParameterStore& params = model->parameters();
  if (static_cast<int>(weights.size()) != params.num_variables()) {
    return InvalidArgumentError("set_weights: the model has " +
                                std::to_string(params.num_variables()) + " variables, got " +
                                std::to_string(weights.size()));
  }
  for (int i = 0; i < params.num_variables(); ++i) {
    const VariableInfo& info = params.variable(i);
    if (static_cast<int64_t>(weights[static_cast<size_t>(i)].size()) != info.shape.num_elements()) {
      return InvalidArgumentError("set_weights: variable '" + info.name + "' has " +
                                  std::to_string(info.shape.num_elements()) + " values, got " +
                                  std::to_string(weights[static_cast<size_t>(i)].size()));
    }
  }
  std::vector<std::pair<int, const std::vector<float>*>> assignments;
  for (int i = 0; i < params.num_variables(); ++i) {
    assignments.emplace_back(i, &weights[static_cast<size_t>(i)]);
  }
  return WriteVariables(assignments, params);
}

}  // namespace shardtrain::model
