#include "storage/keras/keras_files.h"

#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "common/child_trial.h"
#include "storage/keras/hdf5_file.h"
#include "storage/keras/json_nesting.h"
#include "storage/keras/keras3_layout.h"
#include "storage/keras/keras_config_scan.h"
#include "storage/keras/keras_layout_util.h"
#include "storage/keras/legacy_h5_layout.h"
#include "storage/keras/zip_archive.h"

namespace shardtrain::storage::keras {
namespace {

using Json = nlohmann::json;

// What we write as the Keras version of a .keras archive (spec §7: a Keras 3
// release whose loaders read our minimal config.json).
constexpr char kKeras3Version[] = "3.6.0";

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

StatusOr<KerasModelFile> ReadArchive(const std::string& path) {
  ASSIGN_OR_RETURN(ZipArchive archive, ZipArchive::Open(path));
  ASSIGN_OR_RETURN(std::string config, archive.Read("config.json"));
  RETURN_IF_ERROR(CheckJsonNesting(config, kMaxKerasJsonDepth, path + " (config.json)"));
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
    const auto version = meta.is_object() ? meta.find("keras_version") : meta.end();
    if (version != meta.end() && version->is_string()) {
      model->keras_version = version->get<std::string>();
    }
  }
  return model;
}

bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsWordChar(char c) { return IsUpper(c) || IsLower(c) || (c >= '0' && c <= '9') || c == '_'; }

// re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name): left to right, non-overlapping.
std::string SplitBeforeCapitalizedWords(const std::string& name) {
  std::string out;
  const size_t n = name.size();
  for (size_t i = 0; i < n;) {
    if (i + 2 < n && IsUpper(name[i + 1]) && IsLower(name[i + 2])) {
      size_t end = i + 3;
      while (end < n && IsLower(name[end])) ++end;
      out += name[i];
      out += '_';
      out.append(name, i + 1, end - i - 1);
      i = end;
    } else {
      out += name[i++];
    }
  }
  return out;
}

// re.sub("([a-z])([A-Z])", r"\1_\2", name): left to right, non-overlapping.
std::string SplitLowerUpper(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size();) {
    if (i + 1 < name.size() && IsLower(name[i]) && IsUpper(name[i + 1])) {
      out += name[i];
      out += '_';
      out += name[i + 1];
      i += 2;
    } else {
      out += name[i++];
    }
  }
  return out;
}

}  // namespace

// Keras's to_snake_case, as loops: std::regex recurses per character and a
// long class name from a file overflowed the stack.
std::string KerasSnakeCase(const std::string& class_name) {
  std::string word_chars;
  for (char c : class_name) {
    if (IsWordChar(c)) word_chars += c;
  }
  std::string name = SplitLowerUpper(SplitBeforeCapitalizedWords(word_chars));
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
  const Status trial = RunTrialInChild([&] { (void)ReadKerasFileInProcess(path); },
                                       "reading Keras file '" + path + "'");
  if (!trial.ok()) {
    return Status(trial.code(), trial.message() + ": the file is damaged or not one Keras wrote");
  }
  return ReadKerasFileInProcess(path);
}

StatusOr<KerasModelFile> ReadKerasFileInProcess(const std::string& path) {
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
    RETURN_IF_ERROR(CheckJsonNesting(model.model_config_json, kMaxKerasJsonDepth,
                                     path + " (model_config)"));
    ASSIGN_OR_RETURN(bool training_config, file.HasAttribute("/", "training_config"));
    if (training_config) {
      ASSIGN_OR_RETURN(model.training_config_json, file.ReadStringAttribute("/", "training_config"));
      RETURN_IF_ERROR(CheckJsonNesting(model.training_config_json, kMaxKerasJsonDepth,
                                       path + " (training_config)"));
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
    return WriteLegacyModel(file, model);
  }();
  if (!status.ok()) {
    std::remove(temp.c_str());
    return status.WithContext("writing " + path);
  }
  return RenameInto(temp, path);
}

namespace {

// When a .keras archive says it was saved: now in local time, as Keras writes
// date_saved; or, where the SOURCE_DATE_EPOCH environment variable is set
// (the reproducible-builds convention), that time in UTC, for date_saved and
// every entry's modification time, so that the same model gives the same bytes.
struct SaveTime {
  std::time_t time = 0;
  bool fixed = false;  // from SOURCE_DATE_EPOCH
  std::string date;    // "%Y-%m-%d@%H:%M:%S"
};

StatusOr<SaveTime> TimeOfSave() {
  SaveTime saved;
  std::tm calendar{};
  const char* epoch = std::getenv("SOURCE_DATE_EPOCH");
  if (epoch != nullptr) {
    char* end = nullptr;
    errno = 0;
    const long long seconds = std::strtoll(epoch, &end, 10);
    if (*epoch == '\0' || *end != '\0' || errno != 0 || seconds < 0) {
      return InvalidArgumentError("SOURCE_DATE_EPOCH='" + std::string(epoch) +
                                  "' is not a count of seconds since 1970; unset it or fix it");
    }
    saved.time = static_cast<std::time_t>(seconds);
    saved.fixed = true;
    gmtime_r(&saved.time, &calendar);
  } else {
    saved.time = std::time(nullptr);
    localtime_r(&saved.time, &calendar);
  }
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%d@%H:%M:%S", &calendar);
  saved.date = date;
  return saved;
}

}  // namespace

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
  StatusOr<SaveTime> saved = TimeOfSave();
  if (!saved.ok()) {
    std::remove(weights_temp.c_str());
    return saved.status().WithContext("writing " + path);
  }
  const std::string metadata =
      nlohmann::ordered_json{{"keras_version", kKeras3Version}, {"date_saved", saved->date}}.dump();
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
    if (saved->fixed) zip_file_set_mtime(zip, static_cast<zip_uint64_t>(index), saved->time, 0);
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
