// `shardtrain export --config CONFIG --checkpoint PATH --format F --output OUT`:
// writes a trained model for serving and for Keras.
//   saved_model  OUT is a base path; a new numeric version directory appears
//                atomically (storage/saved_model), TF Serving's layout
//   keras        OUT.keras: Keras 3 archive (config.json, metadata.json, model.weights.h5)
//   h5           Keras 2 legacy full model (model_config, training_config, weights, Adam state)
//   weights_h5   Keras 3 .weights.h5
//   json         model.to_json() (Keras 3 form)
#include <algorithm>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_setup.h"
#include "cli/saved_model_of.h"
#include "common/flags.h"
#include "storage/keras/keras_files.h"
#include "storage/saved_model/saved_model_writer.h"
#include "worker/loss/loss.h"
#include "worker/model/keras_json.h"
#include "worker/model/keras_weights.h"

namespace shardtrain::cli {
namespace {

// TensorFlow's node-name rule [A-Za-z0-9.][A-Za-z0-9_.\-]*, as a loop (a
// std::regex recursed once per character: a long name overflowed the stack).
bool IsTensorFlowNodeName(const std::string& name) {
  auto alnum_or_dot = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.';
  };
  if (name.empty() || !alnum_or_dot(name[0])) return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return alnum_or_dot(c) || c == '_' || c == '-'; });
}

// The signature input name: the Keras model JSON's InputLayer name when the
// model came from one (clients address the input by it, as Keras's own export
// names it), else the config's model.input_name, else Keras 2's default for a
// Sequential without an Input, "<first layer>_input".
StatusOr<std::string> SavedModelInputName(const ModelJob& job) {
  const model::Model& model = job.trainer->model();
  const std::string fallback =
      !job.config.model().input_name().empty()
          ? job.config.model().input_name()
          : (model.layers().empty() ? std::string("dense") : model.layers()[0].name) + "_input";
  const std::string& json_path = job.config.model_json();
  if (json_path.empty()) return fallback;
  std::ifstream in(json_path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json root = nlohmann::json::parse(text.str(), nullptr, false);
  if (root.is_discarded() || !root.is_object() || !root.contains("config")) return fallback;
  const nlohmann::json& config = root["config"];
  const nlohmann::json* layers = config.is_array() ? &config : nullptr;
  if (config.is_object() && config.contains("layers")) layers = &config["layers"];
  if (layers == nullptr || !layers->is_array()) return fallback;
  for (const nlohmann::json& layer : *layers) {
    if (!layer.is_object() || layer.value("class_name", "") != "InputLayer") continue;
    if (!layer.contains("config") || !layer["config"].is_object()) break;
    const std::string name = layer["config"].value("name", "");
    if (name.empty()) break;
    if (!IsTensorFlowNodeName(name)) {
      return InvalidArgumentError(json_path + ": the InputLayer name '" + name +
                                  "' is not a valid TensorFlow node name for the signature input");
    }
    return name;
  }
  return fallback;
}

// The layer graph TF Serving runs (cli/saved_model_of.h), with a
// probabilities output for a classifier trained from logits.
StatusOr<storage::saved_model::ExportModel> SavedModelOf(const ModelJob& job) {
  ASSIGN_OR_RETURN(const std::string input_name, SavedModelInputName(job));
  ASSIGN_OR_RETURN(storage::saved_model::ExportModel out,
                   ExportModelOf(job.trainer->model(), input_name));
  out.add_probabilities =
      loss::LossTakesLogits(job.config.loss()) && out.layers.back().activation == "linear";
  // Binary cross-entropy's outputs are independent logits (of class 1, or of
  // each label of a multi-label target): sigmoid, not softmax, probabilities.
  out.sigmoid_probabilities = out.add_probabilities && job.config.loss().has_binary_crossentropy();
  return out;
}

Status WriteText(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return PermissionDeniedError("cannot write " + temp);
    out << text << "\n";
    if (!out.flush()) return DataLossError("writing " + temp + " failed (disk full?)");
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return InternalError("renaming " + temp + " to " + path + " failed");
  }
  return OkStatus();
}

// The model's weights: from the Keras file `init_from` when given (every
// model weight must be in it), else from the checkpoint (default: the latest
// in the run's checkpoint directory).
Status LoadExportWeights(const std::optional<std::string>& init_from,
                         const std::optional<std::string>& checkpoint_path, ModelJob& job) {
  if (init_from && checkpoint_path) {
    return InvalidArgumentError("give either --checkpoint or --init-from, not both");
  }
  return LoadModelWeights(checkpoint_path, init_from, job);
}

// Keras can name only GELU's erf form ("gelu"): a model with the tanh form has
// no Keras model config that loads it.
Status CheckKerasActivations(const model::Model& model) {
  for (const model::Model::Layer& layer : model.layers()) {
    if (layer.activation == kernels::Activation::kGeluTanh) {
      return InvalidArgumentError("layer '" + layer.name +
                                  "': Keras has no name for GELU_APPROXIMATE (gelu with "
                                  "approximate=True), so no Keras file could load it; export "
                                  "--format saved_model or weights_h5, or train with GELU");
    }
  }
  return OkStatus();
}

// Writes `job`'s model as `format` to `output` and prints what it wrote.
// `with_optimizer`: the weights came from a checkpoint, whose optimizer state
// the Keras formats carry (a Keras import starts it afresh).
Status WriteExport(const ModelJob& job, const std::string& format, const std::string& output,
                   int64_t version, bool with_optimizer) {
  const model::Model& model = job.trainer->model();
  if (format == "saved_model") {
    ASSIGN_OR_RETURN(storage::saved_model::ExportModel exported, SavedModelOf(job));
    ASSIGN_OR_RETURN(std::string dir,
                     storage::saved_model::ExportSavedModel(exported, output, version));
    std::cout << "exported SavedModel " << dir << std::endl;
    return OkStatus();
  }
  if (format == "json" || format == "keras" || format == "h5") {
    RETURN_IF_ERROR(CheckKerasActivations(model));
  }
  if (format == "json") {
    RETURN_IF_ERROR(WriteText(
        output, model::KerasModelJson(job.config, model, model::KerasJsonFlavor::kKeras3, true)));
    std::cout << "exported model JSON " << output << std::endl;
    return OkStatus();
  }
  ASSIGN_OR_RETURN(
      storage::keras::KerasModelFile file,
      model::ToKerasModelFile(model, with_optimizer ? &job.trainer->optimizer() : nullptr));
  if (format == "keras") {
    file.model_config_json =
        model::KerasModelJson(job.config, model, model::KerasJsonFlavor::kKeras3, true);
    RETURN_IF_ERROR(storage::keras::WriteKerasArchive(output, file));
  } else if (format == "h5") {
    file.model_config_json =
        model::KerasModelJson(job.config, model, model::KerasJsonFlavor::kKeras2, false);
    file.training_config_json = model::KerasTrainingConfigJson(job.config);
    RETURN_IF_ERROR(storage::keras::WriteLegacyH5(output, file));
  } else if (format == "weights_h5") {
    RETURN_IF_ERROR(storage::keras::WriteWeightsH5(output, file));
  } else {
    return InvalidArgumentError(
        "--format must be saved_model, keras, h5, weights_h5 or json, got '" + format + "'");
  }
  std::cout << "exported " << format << " " << output << std::endl;
  return OkStatus();
}

}  // namespace

Status RunExport(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<std::string> config_path, checkpoint_path, format, output, init_from;
  std::optional<int64_t> version;
  FlagSet flags("shardtrain export",
                "shardtrain export --config CONFIG --checkpoint PATH --format F --output OUT",
                "Exports the model of CONFIG with the weights of a checkpoint.\n"
                "Formats: saved_model (OUT is a model base path; writes OUT/<version>),\n"
                "keras (.keras), h5 (Keras 2 full model), weights_h5 (.weights.h5), json.");
  flags.String("config", &config_path, "the job config the checkpoint was trained with");
  flags.String("checkpoint", &checkpoint_path,
               "checkpoint prefix or directory (default: RUN_DIR/checkpoints, its latest)");
  flags.String("init-from", &init_from,
               "take the weights from a Keras file (.keras, .h5, .weights.h5) instead of a "
               "checkpoint (converts between formats)");
  flags.String("format", &format, "saved_model, keras, h5, weights_h5 or json");
  flags.String("output", &output, "where to write (saved_model: the base path of versions)");
  flags.Int("version", &version, "saved_model version number (default: the next one)");
  flags.String("run-dir", &overrides.run_dir, "run directory (training.run_dir)");
  flags.String("data", &overrides.data_dir, "data directory (data.dir; not read by export)");
  flags.String("model-json", &overrides.model_json, "architecture from a Keras model JSON");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (!config_path && flags.positional().size() == 1) config_path = flags.positional()[0];
  if (!config_path || !format || !output) {
    return InvalidArgumentError(
        "export needs --config, --format and --output; see "
        "`shardtrain export --help`");
  }
  if (version && *version <= 0) return InvalidArgumentError("--version must be positive");
  ASSIGN_OR_RETURN(ModelJob job, BuildModelJob(*config_path, overrides));
  RETURN_IF_ERROR(LoadExportWeights(init_from, checkpoint_path, job));
  return WriteExport(job, *format, *output, version.value_or(0), !init_from.has_value());
}

}  // namespace shardtrain::cli
