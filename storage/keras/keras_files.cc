#include "storage/keras/keras_files.h"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>

#include "storage/keras/hdf5_file.h"
#include "storage/keras/keras_weight_names.h"

namespace shardtrain::storage::keras {
namespace {

using Json = nlohmann::json;

// What we write as the Keras versions (spec §7: a 2.x string for legacy files;
// a Keras 3 release whose loaders read our minimal config.json).
constexpr char kLegacyKerasVersion[] = "2.12.0";
constexpr char kKeras3Version[] = "3.6.0";
// Zip members larger than this, or expanding more than 100x, are refused.
constexpr uint64_t kMaxZipMember = uint64_t{4} << 30;

std::string TempPathBeside(const std::string& path) {
  std::random_device random;
  return path + ".tmp" + std::to_string(random()) + std::to_string(random());
}

Status RenameInto(const std::string& temp, const std::string& path) {
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return PermissionDeniedError("cannot rename " + temp + " to " + path);
  }
  return OkStatus();
}

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

// The weights that have optimizer state: the trainable weights of the
// trainable layers (not a BatchNormalization's moving statistics).
std::vector<const KerasWeight*> TrainableWeights(const KerasModelFile& model) {
  std::vector<const KerasWeight*> out;
  for (const auto& layer : model.layers) {
    if (!layer.trainable) continue;
    for (const auto& weight : layer.weights) {
      if (weight.trainable) out.push_back(&weight);
    }
  }
  return out;
}

Status CheckOptimizer(const KerasModelFile& model, const std::string& path) {
  if (!model.optimizer.present) return OkStatus();
  const auto weights = TrainableWeights(model);
  if (model.optimizer.m.size() != weights.size() || model.optimizer.v.size() != weights.size()) {
    return InvalidArgumentError(path + ": optimizer state has " +
                                std::to_string(model.optimizer.m.size()) + " slots for " +
                                std::to_string(weights.size()) + " weights");
  }
  for (size_t i = 0; i < weights.size(); ++i) {
    if (model.optimizer.m[i].size() != weights[i]->values.size() ||
        model.optimizer.v[i].size() != weights[i]->values.size()) {
      return InvalidArgumentError(path + ": optimizer slot " + std::to_string(i) +
                                  " does not match its weight's size");
    }
  }
  return OkStatus();
}

// The Keras 3 weights layout (spec §4.4) into an open file.
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

std::string ShortWeightName(const std::string& weight_name) {
  std::string name = weight_name;
  if (name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0) name.resize(name.size() - 2);
  size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

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

bool IsFalse(const Json& config, const char* key) {
  return config.is_object() && config.contains(key) && config[key].is_boolean() &&
         !config[key].get<bool>();
}

// Names of the layers a model config JSON freezes ("trainable": false on the
// layer, or on the whole model).
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

// Layer name → class name from a model config JSON (either form), when present.
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

// The legacy weights layout (spec §2.1/§3) under `group` ("/model_weights" or "/").
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

// An optional string attribute: `fallback` when absent or unusable, the
// error when the file is damaged there.
StatusOr<std::string> OptionalString(const H5File& file, const std::string& object_path,
                                     const std::string& name, const std::string& fallback) {
  auto value = file.ReadStringAttribute(object_path, name);
  if (value.ok() || value.status().code() == StatusCode::kDataLoss) return value;
  return fallback;
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

// Adam state of a legacy .h5 in either order above. State we cannot use is
// skipped; damaged weight names are DataLoss.
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

// A layer of a Keras 3 config walk: its name, class and weight options.
struct WalkedLayer {
  std::string name;
  std::string class_name;
  KerasLayerOptions options;
};

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

// The Keras 3 layout. `known` gives the layers in model order when a config
// is known; otherwise the groups under /layers are read as they are named
// (their weights named after the class their path implies). `frozen` names
// the layers without optimizer state.
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

// A layer config's flags that decide its weights (Keras defaults when absent).
KerasLayerOptions OptionsOf(const Json& layer_config) {
  KerasLayerOptions options;
  options.center = !IsFalse(layer_config, "center");
  options.scale = !IsFalse(layer_config, "scale");
  return options;
}

// The layers a Keras 3 config walks, in order: Sequential without its
// InputLayer, Functional with it.
std::vector<WalkedLayer> Keras3Walk(const std::string& config_json) {
  std::vector<WalkedLayer> out;
  Json root = Json::parse(config_json, nullptr, false);
  if (!root.is_object() || !root.contains("config") || !root["config"].is_object()) return out;
  const bool sequential = root.value("class_name", "") == "Sequential";
  const Json& layers = root["config"]["layers"];
  if (!layers.is_array()) return out;
  for (const Json& entry : layers) {
    if (!entry.is_object()) continue;
    WalkedLayer layer;
    layer.class_name = entry.value("class_name", "");
    if (sequential && layer.class_name == "InputLayer") continue;
    if (entry.contains("config") && entry["config"].is_object()) {
      layer.name = entry["config"].value("name", "");
      layer.options = OptionsOf(entry["config"]);
    }
    out.push_back(std::move(layer));
  }
  return out;
}

class ZipArchive {
 public:
  ~ZipArchive() {
    if (zip_ != nullptr) zip_discard(zip_);
  }
  static StatusOr<ZipArchive> Open(const std::string& path) {
    int error = 0;
    zip_t* zip = zip_open(path.c_str(), ZIP_RDONLY, &error);
    if (zip == nullptr) {
      zip_error_t e;
      zip_error_init_with_code(&e, error);
      std::string message = zip_error_strerror(&e);
      zip_error_fini(&e);
      return DataLossError("'" + path + "' is not a readable zip archive: " + message);
    }
    ZipArchive archive;
    archive.zip_ = zip;
    archive.path_ = path;
    return archive;
  }
  ZipArchive(ZipArchive&& other) noexcept : zip_(other.zip_), path_(std::move(other.path_)) {
    other.zip_ = nullptr;
  }
  StatusOr<std::string> Read(const std::string& member) const {
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat(zip_, member.c_str(), 0, &stat) != 0) {
      return DataLossError("'" + path_ + "' has no member " + member + " (not a .keras archive?)");
    }
    if (stat.size > kMaxZipMember ||
        ((stat.valid & ZIP_STAT_COMP_SIZE) && stat.size > 100 * std::max<uint64_t>(stat.comp_size, 1) &&
         stat.size > (1 << 20))) {
      return DataLossError("'" + path_ + "': member " + member + " declares " +
                           std::to_string(stat.size) + " bytes, refused");
    }
    zip_file_t* file = zip_fopen(zip_, member.c_str(), 0);
    if (file == nullptr) return DataLossError("'" + path_ + "': cannot open member " + member);
    std::string data(static_cast<size_t>(stat.size), '\0');
    zip_int64_t got = data.empty() ? 0 : zip_fread(file, data.data(), data.size());
    // libzip checks the member's CRC-32 when a read reaches its end: read past it.
    char past_end = 0;
    const zip_int64_t extra =
        got == static_cast<zip_int64_t>(data.size()) ? zip_fread(file, &past_end, 1) : 0;
    const std::string why = got < 0 || extra < 0 ? zip_file_strerror(file) : "";
    zip_fclose(file);
    if (got != static_cast<zip_int64_t>(data.size()) || extra != 0) {
      return DataLossError("'" + path_ + "': member " + member + " is damaged (" +
                           (why.empty() ? "read " + std::to_string(got) + " of " +
                                              std::to_string(data.size()) + " bytes"
                                        : why) +
                           ")");
    }
    return data;
  }

 private:
  ZipArchive() = default;
  zip_t* zip_ = nullptr;
  std::string path_;
};

StatusOr<KerasModelFile> ReadArchive(const std::string& path) {
  ASSIGN_OR_RETURN(ZipArchive archive, ZipArchive::Open(path));
  ASSIGN_OR_RETURN(std::string config, archive.Read("config.json"));
  ASSIGN_OR_RETURN(std::string weights, archive.Read("model.weights.h5"));
  auto metadata = archive.Read("metadata.json");
  char temp[] = "/tmp/shardtrain-keras-XXXXXX";
  int fd = mkstemp(temp);
  if (fd < 0) return InternalError("cannot create a temporary file for " + path);
  close(fd);
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(weights.data(), static_cast<std::streamsize>(weights.size()));
    if (!out) {
      std::remove(temp);
      return InternalError("cannot write a temporary file for " + path);
    }
  }
  StatusOr<KerasModelFile> model = [&]() -> StatusOr<KerasModelFile> {
    ASSIGN_OR_RETURN(H5File file, H5File::Open(temp));
    return ReadKeras3Weights(file, Keras3Walk(config), FrozenLayers(config));
  }();
  std::remove(temp);
  if (!model.ok()) return model.status().WithContext(path + " (model.weights.h5)");
  model->model_config_json = std::move(config);
  if (metadata.ok()) {
    Json meta = Json::parse(*metadata, nullptr, false);
    if (meta.is_object()) model->keras_version = meta.value("keras_version", "");
  }
  return model;
}

}  // namespace

std::string KerasSnakeCase(const std::string& class_name) {
  static const std::regex non_word("\\W+");
  static const std::regex word("(.)([A-Z][a-z]+)");
  static const std::regex boundary("([a-z])([A-Z])");
  std::string name = std::regex_replace(class_name, non_word, "");
  name = std::regex_replace(name, word, "$1_$2");
  name = std::regex_replace(name, boundary, "$1_$2");
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

StatusOr<KerasFileKind> DetectKerasFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read Keras file '" + path + "'");
  char magic[4] = {};
  in.read(magic, 4);
  if (in.gcount() == 4 && std::string(magic, 4) == std::string("PK\x03\x04", 4)) {
    return KerasFileKind::kKerasArchive;
  }
  ASSIGN_OR_RETURN(H5File file, H5File::Open(path));
  ASSIGN_OR_RETURN(bool layer_names, file.HasAttribute("/", "layer_names"));
  ASSIGN_OR_RETURN(bool layer_names0, file.HasAttribute("/", "layer_names0"));
  if (layer_names || layer_names0) {
    return KerasFileKind::kLegacyWeightsH5;
  }
  if (file.Exists("/model_weights")) return KerasFileKind::kLegacyH5;
  if (file.Exists("/layers") || file.Exists("/vars") || file.Exists("/optimizer") ||
      file.Exists("/_layer_checkpoint_dependencies")) {
    return KerasFileKind::kWeightsH5;
  }
  return InvalidArgumentError("'" + path + "' is an HDF5 file but not a Keras model or weights "
                              "file (no layer_names, model_weights or layers)");
}

StatusOr<KerasModelFile> ReadKerasFile(const std::string& path) {
  ASSIGN_OR_RETURN(KerasFileKind kind, DetectKerasFile(path));
  if (kind == KerasFileKind::kKerasArchive) return ReadArchive(path);
  ASSIGN_OR_RETURN(H5File file, H5File::Open(path));
  KerasModelFile model;
  ASSIGN_OR_RETURN(model.keras_version, OptionalString(file, "/", "keras_version", ""));
  if (kind == KerasFileKind::kWeightsH5) {
    ASSIGN_OR_RETURN(KerasModelFile weights, ReadKeras3Weights(file, {}, {}));
    weights.keras_version = model.keras_version;
    return weights;
  }
  if (kind == KerasFileKind::kLegacyH5) {
    ASSIGN_OR_RETURN(model.model_config_json, file.ReadStringAttribute("/", "model_config"));
    ASSIGN_OR_RETURN(bool training_config, file.HasAttribute("/", "training_config"));
    if (training_config) {
      ASSIGN_OR_RETURN(model.training_config_json, file.ReadStringAttribute("/", "training_config"));
    }
  }
  const std::string group = kind == KerasFileKind::kLegacyH5 ? "/model_weights" : "/";
  ASSIGN_OR_RETURN(model.layers,
                   ReadLegacyWeights(file, group, ClassesFromConfig(model.model_config_json)));
  MarkFrozen(FrozenLayers(model.model_config_json), &model.layers);
  RETURN_IF_ERROR(ReadLegacyOptimizer(file, &model));
  return model;
}

Status WriteWeightsH5(const std::string& path, const KerasModelFile& model) {
  RETURN_IF_ERROR(CheckOptimizer(model, path));
  const std::string temp = TempPathBeside(path);
  {
    ASSIGN_OR_RETURN(H5File file, H5File::Create(temp));
    Status written = WriteKeras3Weights(file, model);
    if (!written.ok()) {
      std::remove(temp.c_str());
      return written;
    }
  }
  return RenameInto(temp, path);
}

Status WriteLegacyH5(const std::string& path, const KerasModelFile& model) {
  RETURN_IF_ERROR(CheckOptimizer(model, path));
  const std::string temp = TempPathBeside(path);
  Status status = [&]() -> Status {
    ASSIGN_OR_RETURN(H5File file, H5File::Create(temp));
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
    RETURN_IF_ERROR(file.WriteStringListAttribute("/model_weights", "layer_names", layer_names));
    std::vector<std::string> slot_names_m, slot_names_v;
    for (const auto& layer : model.layers) {
      const std::string group = "/model_weights/" + layer.name;
      RETURN_IF_ERROR(file.CreateGroup(group).status());
      std::vector<std::string> weight_names;
      for (const auto& weight : layer.weights) {
        const std::string name = layer.name + "/" + weight.name + ":0";
        weight_names.push_back(name);
        RETURN_IF_ERROR(file.WriteFloats(group + "/" + name, weight.shape, weight.values.data()));
        if (!layer.trainable || !weight.trainable) continue;  // no optimizer state
        slot_names_m.push_back("Adam/" + layer.name + "/" + weight.name + "/m:0");
        slot_names_v.push_back("Adam/" + layer.name + "/" + weight.name + "/v:0");
      }
      RETURN_IF_ERROR(file.WriteStringListAttribute(group, "weight_names", weight_names));
    }
    RETURN_IF_ERROR(file.CreateGroup("/model_weights/top_level_model_weights").status());
    RETURN_IF_ERROR(
        file.WriteStringListAttribute("/model_weights/top_level_model_weights", "weight_names", {}));
    if (model.optimizer.present) {  // tf.keras <= 2.10 order: iter, all m, all v
      RETURN_IF_ERROR(file.CreateGroup("/optimizer_weights").status());
      std::vector<std::string> names = {"Adam/iter:0"};
      names.insert(names.end(), slot_names_m.begin(), slot_names_m.end());
      names.insert(names.end(), slot_names_v.begin(), slot_names_v.end());
      RETURN_IF_ERROR(file.WriteStringListAttribute("/optimizer_weights", "weight_names", names));
      RETURN_IF_ERROR(file.WriteInt64Scalar("/optimizer_weights/Adam/iter:0", model.optimizer.iterations));
      const auto weights = TrainableWeights(model);
      for (size_t i = 0; i < weights.size(); ++i) {
        RETURN_IF_ERROR(file.WriteFloats("/optimizer_weights/" + slot_names_m[i], weights[i]->shape,
                                         model.optimizer.m[i].data()));
        RETURN_IF_ERROR(file.WriteFloats("/optimizer_weights/" + slot_names_v[i], weights[i]->shape,
                                         model.optimizer.v[i].data()));
      }
    }
    return OkStatus();
  }();
  if (!status.ok()) {
    std::remove(temp.c_str());
    return status.WithContext("writing " + path);
  }
  return RenameInto(temp, path);
}

Status WriteKerasArchive(const std::string& path, const KerasModelFile& model) {
  RETURN_IF_ERROR(CheckOptimizer(model, path));
  const std::string weights_temp = TempPathBeside(path) + ".weights.h5";
  {
    ASSIGN_OR_RETURN(H5File file, H5File::Create(weights_temp));
    Status written = WriteKeras3Weights(file, model);
    if (!written.ok()) {
      std::remove(weights_temp.c_str());
      return written.WithContext("writing " + path);
    }
  }
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  std::strftime(date, sizeof(date), "%Y-%m-%d@%H:%M:%S", &local);
  const std::string metadata =
      nlohmann::ordered_json{{"keras_version", kKeras3Version}, {"date_saved", date}}.dump();
  const std::string zip_temp = TempPathBeside(path);
  int error = 0;
  zip_t* zip = zip_open(zip_temp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) {
    std::remove(weights_temp.c_str());
    return PermissionDeniedError("cannot create " + zip_temp);
  }
  auto add = [&](const char* name, zip_source_t* source) -> Status {
    if (source == nullptr) return InternalError("libzip: cannot make a source for " + std::string(name));
    zip_int64_t index = zip_file_add(zip, name, source, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(source);
      return InternalError(std::string("libzip: cannot add ") + name + ": " + zip_strerror(zip));
    }
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    return OkStatus();
  };
  Status status = add("metadata.json", zip_source_buffer(zip, metadata.data(), metadata.size(), 0));
  if (status.ok()) {
    status = add("config.json", zip_source_buffer(zip, model.model_config_json.data(),
                                                  model.model_config_json.size(), 0));
  }
  if (status.ok()) {
    status = add("model.weights.h5", zip_source_file(zip, weights_temp.c_str(), 0, -1));
  }
  if (status.ok() && zip_close(zip) != 0) {
    status = DataLossError("writing " + zip_temp + " failed: " + std::string(zip_strerror(zip)));
    zip_discard(zip);
  } else if (!status.ok()) {
    zip_discard(zip);
  }
  std::remove(weights_temp.c_str());
  if (!status.ok()) {
    std::remove(zip_temp.c_str());
    return status;
  }
  return RenameInto(zip_temp, path);
}

}  // namespace shardtrain::storage::keras
