#include "storage/keras/keras3_layout.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "storage/keras/keras_layout_util.h"
#include "storage/keras/keras_weight_names.h"

namespace shardtrain::storage::keras {
namespace {

// Keras 3 layer paths: snake_case(class) numbered in visit order.
std::vector<std::string> Keras3LayerPaths(const std::vector<std::string>& class_names) {
  std::map<std::string, int> seen;
  std::vector<std::string> paths;
  for (const std::string& class_name : class_names) {
    const std::string base = KerasSnakeCase(class_name);
    const int n = seen[base]++;
    paths.push_back(n == 0 ? base : base + "_" + std::to_string(n));
  }
  return paths;
}

// The weights under `vars` ("/layers/<path>/vars", entries 0..n-1), named for
// a `naming_class` layer.
StatusOr<std::vector<KerasWeight>> ReadKeras3LayerWeights(const H5File& file,
                                                          const std::string& vars,
                                                          const std::string& naming_class,
                                                          const KerasLayerOptions& options) {
  std::vector<KerasWeight> weights;
  if (!file.Exists(vars)) return weights;
  ASSIGN_OR_RETURN(std::vector<std::string> indices, file.List(vars));
  std::vector<int> numeric;
  for (const std::string& index : indices) {
    if (index.empty() || !std::all_of(index.begin(), index.end(), ::isdigit) || index.size() > 6) {
      return DataLossError("HDF5 file '" + file.path() + "': unexpected entry " + vars + "/" + index);
    }
    numeric.push_back(std::stoi(index));
  }
  std::sort(numeric.begin(), numeric.end());
  const auto names = KerasWeightNames(naming_class, numeric.size(), options);
  for (size_t i = 0; i < numeric.size(); ++i) {
    KerasWeight weight;
    weight.name = names[i].name;
    weight.trainable = names[i].trainable;
    RETURN_IF_ERROR(file.ReadFloats(vars + "/" + std::to_string(numeric[i]), &weight.shape,
                                    &weight.values));
    weights.push_back(std::move(weight));
  }
  return weights;
}

// Adam state of the Keras 3 layout: 0 iteration, 1 learning rate (absent with
// a schedule), then m/v interleaved per trainable weight. Left absent when the
// file has none that fits the model's trainable weights.
Status ReadKeras3Optimizer(const H5File& file, KerasModelFile* model) {
  const size_t n = TrainableWeights(*model).size();
  if (n == 0 || !file.Exists("/optimizer/vars")) return OkStatus();
  auto entries = file.List("/optimizer/vars");
  const bool with_lr = entries.ok() && entries->size() == 2 + 2 * n;
  if (!with_lr && !(entries.ok() && entries->size() == 1 + 2 * n)) return OkStatus();
  auto iterations = file.ReadInt64Scalar("/optimizer/vars/0");
  std::vector<int64_t> shape;
  std::vector<float> lr = {0.0f};
  if (!iterations.ok() ||
      (with_lr && !(file.ReadFloats("/optimizer/vars/1", &shape, &lr).ok() && lr.size() == 1))) {
    return OkStatus();
  }
  KerasOptimizerState state;
  state.iterations = *iterations;
  state.learning_rate = lr[0];
  state.learning_rate_variable = with_lr;
  ASSIGN_OR_RETURN(state.name, OptionalString(file, "/optimizer/vars", "name", state.name));
  const size_t first_slot = with_lr ? 2 : 1;
  for (size_t i = 0; i < 2 * n; ++i) {
    std::vector<float> values;
    if (!file.ReadFloats("/optimizer/vars/" + std::to_string(first_slot + i), &shape, &values)
             .ok()) {
      return OkStatus();
    }
    (i % 2 == 0 ? state.m : state.v).push_back(std::move(values));
  }
  state.present = true;
  model->optimizer = std::move(state);
  return OkStatus();
}

}  // namespace

Status WriteKeras3Weights(H5File& file, const KerasModelFile& model) {
  RETURN_IF_ERROR(file.CreateGroup("/vars").status());
  std::vector<std::string> classes;
  for (const auto& layer : model.layers) classes.push_back(layer.class_name);
  const std::vector<std::string> paths = Keras3LayerPaths(classes);
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const KerasLayerWeights& layer = model.layers[i];
    if (layer.weights.empty()) continue;  // loaders accept missing groups of weightless layers
    const std::string vars = "/layers/" + paths[i] + "/vars";
    RETURN_IF_ERROR(file.CreateGroup(vars).status());
    RETURN_IF_ERROR(file.WriteStringAttribute(vars, "name", layer.name, /*utf8=*/true));
    for (size_t w = 0; w < layer.weights.size(); ++w) {
      const KerasWeight& weight = layer.weights[w];
      RETURN_IF_ERROR(
          file.WriteFloats(vars + "/" + std::to_string(w), weight.shape, weight.values.data()));
    }
  }
  if (model.optimizer.present) {
    RETURN_IF_ERROR(file.CreateGroup("/optimizer/vars").status());
    RETURN_IF_ERROR(
        file.WriteStringAttribute("/optimizer/vars", "name", model.optimizer.name, true));
    RETURN_IF_ERROR(file.WriteInt64Scalar("/optimizer/vars/0", model.optimizer.iterations));
    int index = 1;
    if (model.optimizer.learning_rate_variable) {
      RETURN_IF_ERROR(file.WriteFloats("/optimizer/vars/1", {}, &model.optimizer.learning_rate));
      index = 2;
    }
    const auto weights = TrainableWeights(model);
    for (size_t i = 0; i < weights.size(); ++i) {
      RETURN_IF_ERROR(file.WriteFloats("/optimizer/vars/" + std::to_string(index++),
                                       weights[i]->shape, model.optimizer.m[i].data()));
      RETURN_IF_ERROR(file.WriteFloats("/optimizer/vars/" + std::to_string(index++),
                                       weights[i]->shape, model.optimizer.v[i].data()));
    }
  }
  return OkStatus();
}

StatusOr<KerasModelFile> ReadKeras3Weights(const H5File& file,
                                           const std::vector<WalkedLayer>& known,
                                           const std::set<std::string>& frozen) {
  std::vector<WalkedLayer> layers = known;
  std::vector<std::string> paths;
  const std::string root = file.Exists("/layers") ? "/layers" : "/_layer_checkpoint_dependencies";
  if (!known.empty()) {
    std::vector<std::string> classes;
    for (const WalkedLayer& layer : known) classes.push_back(layer.class_name);
    paths = Keras3LayerPaths(classes);
  } else if (file.Exists(root)) {
    ASSIGN_OR_RETURN(paths, file.List(root));
    for (const std::string& path : paths) {
      ASSIGN_OR_RETURN(std::string name,
                       OptionalString(file, root + "/" + path + "/vars", "name", path));
      layers.push_back({name, "", {}});
    }
  }
  KerasModelFile model;
  for (size_t i = 0; i < layers.size(); ++i) {
    KerasLayerWeights layer;
    layer.name = layers[i].name;
    layer.class_name = layers[i].class_name;
    const std::string naming_class =
        known.empty() ? ClassOfKeras3LayerPath(paths[i]) : layer.class_name;
    ASSIGN_OR_RETURN(layer.weights, ReadKeras3LayerWeights(file, root + "/" + paths[i] + "/vars",
                                                           naming_class, layers[i].options));
    model.layers.push_back(std::move(layer));
  }
  MarkFrozen(frozen, &model.layers);
  RETURN_IF_ERROR(ReadKeras3Optimizer(file, &model));
  return model;
}

}  // namespace shardtrain::storage::keras
