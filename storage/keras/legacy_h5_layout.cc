#include "storage/keras/legacy_h5_layout.h"

#include "storage/keras/keras_layout_util.h"
#include "storage/keras/keras_weight_names.h"

namespace shardtrain::storage::keras {
namespace {

// What we write as the Keras version of a legacy file (spec §7: a 2.x string).
constexpr char kLegacyKerasVersion[] = "2.12.0";

// "dense/kernel:0" -> "kernel".
std::string ShortWeightName(const std::string& weight_name) {
  std::string name = weight_name;
  if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) name.resize(name.size() - 2);
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

// Keras 3's legacy .h5 names its Adam state ".../iteration", ".../learning_rate",
// then m and v interleaved per trainable weight; tf.keras <= 2.10 names
// "Adam/iter:0", then all m, then all v.
bool IsKeras3LegacyOptimizer(const std::vector<std::string>& names, size_t n) {
  const std::string suffix = "/iteration";
  const std::string& first = names.front();
  return names.size() == 2 + 2 * n && first.size() > suffix.size() &&
         first.compare(first.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The root and /model_weights attributes of a legacy full model.
Status WriteLegacyAttributes(H5File& file, const KerasModelFile& model) {
  RETURN_IF_ERROR(file.WriteStringAttribute("/", "backend", "tensorflow", true));
  RETURN_IF_ERROR(file.WriteStringAttribute("/", "keras_version", kLegacyKerasVersion, true));
  RETURN_IF_ERROR(file.WriteStringAttribute("/", "model_config", model.model_config_json, false));
  if (!model.training_config_json.empty()) {
    RETURN_IF_ERROR(
        file.WriteStringAttribute("/", "training_config", model.training_config_json, false));
  }
  RETURN_IF_ERROR(file.CreateGroup("/model_weights").status());
  RETURN_IF_ERROR(file.WriteStringAttribute("/model_weights", "backend", "tensorflow", false));
  RETURN_IF_ERROR(
      file.WriteStringAttribute("/model_weights", "keras_version", kLegacyKerasVersion, false));
  std::vector<std::string> layer_names;
  for (const auto& layer : model.layers) layer_names.push_back(layer.name);
  return file.WriteStringListAttribute("/model_weights", "layer_names", layer_names);
}

// Adam slot names of the trainable weights, tf.keras <= 2.10 style.
struct LegacySlotNames {
  std::vector<std::string> m, v;
};

// One group per layer under /model_weights with its weights and weight_names;
// returns the slot names of its trainable weights.
StatusOr<LegacySlotNames> WriteLegacyLayers(H5File& file, const KerasModelFile& model) {
  LegacySlotNames slots;
  for (const auto& layer : model.layers) {
    const std::string group = "/model_weights/" + layer.name;
    RETURN_IF_ERROR(file.CreateGroup(group).status());
    std::vector<std::string> weight_names;
    for (const auto& weight : layer.weights) {
      const std::string name = layer.name + "/" + weight.name + ":0";
      weight_names.push_back(name);
      RETURN_IF_ERROR(file.WriteFloats(group + "/" + name, weight.shape, weight.values.data()));
      if (!layer.trainable || !weight.trainable) continue;  // no optimizer state
      slots.m.push_back("Adam/" + layer.name + "/" + weight.name + "/m:0");
      slots.v.push_back("Adam/" + layer.name + "/" + weight.name + "/v:0");
    }
    RETURN_IF_ERROR(file.WriteStringListAttribute(group, "weight_names", weight_names));
  }
  RETURN_IF_ERROR(file.CreateGroup("/model_weights/top_level_model_weights").status());
  RETURN_IF_ERROR(
      file.WriteStringListAttribute("/model_weights/top_level_model_weights", "weight_names", {}));
  return slots;
}

// /optimizer_weights in the tf.keras <= 2.10 order: iter, all m, all v.
Status WriteLegacyOptimizer(H5File& file, const KerasModelFile& model,
                            const LegacySlotNames& slots) {
  RETURN_IF_ERROR(file.CreateGroup("/optimizer_weights").status());
  std::vector<std::string> names = {"Adam/iter:0"};
  names.insert(names.end(), slots.m.begin(), slots.m.end());
  names.insert(names.end(), slots.v.begin(), slots.v.end());
  RETURN_IF_ERROR(file.WriteStringListAttribute("/optimizer_weights", "weight_names", names));
  RETURN_IF_ERROR(
      file.WriteInt64Scalar("/optimizer_weights/Adam/iter:0", model.optimizer.iterations));
  const auto weights = TrainableWeights(model);
  for (size_t i = 0; i < weights.size(); ++i) {
    RETURN_IF_ERROR(file.WriteFloats("/optimizer_weights/" + slots.m[i], weights[i]->shape,
                                     model.optimizer.m[i].data()));
    RETURN_IF_ERROR(file.WriteFloats("/optimizer_weights/" + slots.v[i], weights[i]->shape,
                                     model.optimizer.v[i].data()));
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<KerasLayerWeights>> ReadLegacyWeights(const H5File& file,
                                                           const std::string& group,
                                                           const std::map<std::string, std::string>& classes) {
  ASSIGN_OR_RETURN(std::vector<std::string> layer_names,
                   file.ReadStringListAttribute(group, "layer_names"));
  std::vector<KerasLayerWeights> layers;
  const std::string base = group == "/" ? "" : group;
  for (const std::string& name : layer_names) {
    KerasLayerWeights layer;
    layer.name = name;
    auto found = classes.find(name);
    layer.class_name = found == classes.end() ? "" : found->second;
    const std::string layer_group = base + "/" + name;
    if (!file.Exists(layer_group)) {
      return DataLossError("HDF5 file '" + file.path() + "': layer_names lists '" + name +
                           "' but there is no group " + layer_group);
    }
    ASSIGN_OR_RETURN(std::vector<std::string> weight_names,
                     file.ReadStringListAttribute(layer_group, "weight_names"));
    for (const std::string& weight_name : weight_names) {
      KerasWeight weight;
      weight.name = ShortWeightName(weight_name);
      weight.trainable = IsTrainableWeightName(weight.name);
      RETURN_IF_ERROR(file.ReadFloats(layer_group + "/" + weight_name, &weight.shape, &weight.values));
      layer.weights.push_back(std::move(weight));
    }
    layers.push_back(std::move(layer));
  }
  return layers;
}

Status ReadLegacyOptimizer(const H5File& file, KerasModelFile* model) {
  if (!file.Exists("/optimizer_weights")) return OkStatus();
  auto names = file.ReadStringListAttribute("/optimizer_weights", "weight_names");
  if (!names.ok() && names.status().code() == StatusCode::kDataLoss) return names.status();
  const size_t n = TrainableWeights(*model).size();
  if (!names.ok() || n == 0 || names->empty()) return OkStatus();
  const bool keras3 = IsKeras3LegacyOptimizer(*names, n);
  if (!keras3 && names->size() != 1 + 2 * n) return OkStatus();
  const std::string group = "/optimizer_weights/";
  auto iterations = file.ReadInt64Scalar(group + (*names)[0]);
  if (!iterations.ok()) return OkStatus();
  KerasOptimizerState state;
  state.iterations = *iterations;
  std::vector<int64_t> shape;
  if (keras3) {
    std::vector<float> lr;
    if (!file.ReadFloats(group + (*names)[1], &shape, &lr).ok() || lr.size() != 1) {
      return OkStatus();
    }
    state.learning_rate = lr[0];
  }
  const size_t first_slot = keras3 ? 2 : 1;
  for (size_t i = 0; i < 2 * n; ++i) {
    std::vector<float> values;
    if (!file.ReadFloats(group + (*names)[first_slot + i], &shape, &values).ok()) {
      return OkStatus();
    }
    const bool is_m = keras3 ? i % 2 == 0 : i < n;
    (is_m ? state.m : state.v).push_back(std::move(values));
  }
  state.present = true;
  model->optimizer = std::move(state);
  return OkStatus();
}

Status WriteLegacyModel(H5File& file, const KerasModelFile& model) {
  RETURN_IF_ERROR(WriteLegacyAttributes(file, model));
  ASSIGN_OR_RETURN(LegacySlotNames slots, WriteLegacyLayers(file, model));
  if (!model.optimizer.present) return OkStatus();
  return WriteLegacyOptimizer(file, model, slots);
}

}  // namespace shardtrain::storage::keras
