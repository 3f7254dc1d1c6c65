// `shardtrain predict [CONFIG] --input IN --output OUT`: the outputs of a
// trained model for examples without labels, as Keras's model.predict.
// The model: CONFIG's, with weights from a checkpoint (default: the run's
// latest) or a Keras file (--keras); or an exported SavedModel (--saved-model,
// our serving runtime; no CONFIG needed). The examples (IN): a directory of
// TFRecord shards of tf.train.Example (labels not needed), a .npy file
// (float32 or uint8, shape (N, features...)), a CSV file (one example per
// row), or with a CONFIG, TFRecord files by name or glob. TFRecords are
// decoded with CONFIG's feature spec (without one, the prepared schema:
// `image` pixels / 255). .npy/.csv values: with a CONFIG, its single numeric
// feature's values (value * scale + offset as in training; floats for a
// uint8 feature are its model inputs as they are; another spec is refused:
// pass TFRecords); with a SavedModel, uint8 pixels are scaled by 1/255 and
// floats are the model's inputs as they are. OUT: .npy
// (float32, N x outputs) or .csv, by extension.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/model_runner.h"
#include "cli/model_setup.h"
#include "common/flags.h"
#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_file.h"
#include "worker/data/dataset.h"
#include "worker/data/example_decoder.h"
#include "worker/data/feature_spec.h"
#include "worker/data/job_data.h"

namespace shardtrain::cli {
namespace {

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Shape(int64_t rows, int64_t row_size) {
  return "(" + std::to_string(rows) + ", " + std::to_string(row_size) + ")";
}

StatusOr<ModelInputs> NpyInputs(const std::string& path) {
  ASSIGN_OR_RETURN(storage::NpyArray array, storage::ReadNpy(path));
  ModelInputs inputs;
  inputs.source = path;
  inputs.rows = array.rows();
  inputs.row_size = array.row_size();
  inputs.shape = array.ShapeString();
  inputs.pixels = std::move(array.bytes);
  inputs.values = std::move(array.floats);
  if (!inputs.pixels.empty()) inputs.scale = 1.0f / 255.0f;  // a SavedModel's pixels, as prepared
  return inputs;
}

StatusOr<ModelInputs> CsvInputs(const std::string& path) {
  ASSIGN_OR_RETURN(storage::CsvTable table, storage::ReadCsv(path));
  ModelInputs inputs;
  inputs.source = path;
  inputs.rows = table.rows;
  inputs.row_size = table.cols;
  inputs.shape = Shape(table.rows, table.cols);
  inputs.values = std::move(table.values);
  return inputs;
}

// The `split` shards of the prepared directory `dir`: decoded with `job`'s
// feature spec when there is a job, else with the default one (`image` / 255).
StatusOr<ModelInputs> ShardInputs(const std::string& dir, const std::string& split,
                                  int64_t max_examples, const config::JobConfig* job) {
  data::Dataset dataset;
  if (job != nullptr) {
    ASSIGN_OR_RETURN(const std::vector<std::string> paths, data::ListShards(dir, split));
    ASSIGN_OR_RETURN(dataset, data::LoadFilesForJob(*job, paths, max_examples, /*labels=*/false,
                                                    /*prepared_shards=*/true));
  } else {
    ASSIGN_OR_RETURN(dataset, data::LoadUnlabeledSplit(dir, split, max_examples));
  }
  return InputsFromDataset(std::move(dataset), "the " + split + " shards in " + dir);
}

// The TFRecord files `pattern` matches, decoded with `job`'s feature spec.
StatusOr<ModelInputs> TfRecordFileInputs(const std::string& pattern, int64_t max_examples,
                                         const config::JobConfig& job) {
  ASSIGN_OR_RETURN(const std::vector<std::string> paths, data::MatchFiles({pattern}, "--input"));
  ASSIGN_OR_RETURN(data::Dataset dataset,
                   data::LoadFilesForJob(job, paths, max_examples, /*labels=*/false,
                                         /*prepared_shards=*/false));
  return InputsFromDataset(std::move(dataset), pattern);
}

// With a job, .npy/.csv values are the values its one numeric feature holds
// in a TFRecord, and become value * scale + offset as ExampleDecoder decodes
// them — except float values for a BYTES_UINT8 feature, which cannot be its
// stored bytes: those are model inputs, scaled already (as predict has always
// read them). A spec of several features or an encoded image cannot be read
// from one array: InvalidArgument.
Status ApplyFeatureSpec(const config::JobConfig& job, ModelInputs* inputs) {
  const auto& shape = job.model().input_shape();
  ASSIGN_OR_RETURN(const data::ExampleDecoder decoder,
                   data::ExampleDecoder::Create(job.data(), {shape.begin(), shape.end()}));
  const std::vector<config::FeatureSpec>& features = decoder.features();
  if (features.size() != 1 || data::IsImageFeature(features[0])) {
    const std::string what = features.size() != 1 ? std::to_string(features.size()) + " features"
                                                  : "the encoded image '" + features[0].key() + "'";
    return InvalidArgumentError("--input " + inputs->source + ": the job's data.features are " +
                                what +
                                ", not one numeric feature, so a .npy or .csv cannot be fed as "
                                "training decodes them; pass the examples as TFRecords");
  }
  const bool scaled_pixels =
      features[0].type() == config::FeatureSpec::BYTES_UINT8 && inputs->pixels.empty();
  inputs->scale = scaled_pixels ? 1.0f : features[0].scale();
  inputs->offset = scaled_pixels ? 0.0f : features[0].offset();
  return OkStatus();
}

// The examples at `path`, of the kind its name says; the first `max_examples`
// (0 = all). TFRecords are decoded with `job`'s feature spec (null: the
// model is a SavedModel, and only a prepared directory can be read).
StatusOr<ModelInputs> LoadInputs(const std::string& path, const std::string& split,
                                 int64_t max_examples, const config::JobConfig* job) {
  std::error_code error;
  ModelInputs inputs;
  if (std::filesystem::is_directory(path, error)) {
    return ShardInputs(path, split, max_examples, job);
  } else if (EndsWith(path, ".npy") || EndsWith(path, ".csv")) {
    ASSIGN_OR_RETURN(inputs, EndsWith(path, ".npy") ? NpyInputs(path) : CsvInputs(path));
    if (job != nullptr) RETURN_IF_ERROR(ApplyFeatureSpec(*job, &inputs));
  } else if (job != nullptr) {
    return TfRecordFileInputs(path, max_examples, *job);
  } else {
    return InvalidArgumentError("--input " + path +
                                ": expected a directory of TFRecord shards, a .npy or a .csv file "
                                "(TFRecord files by name or glob need a CONFIG: its feature spec)");
  }
  if (max_examples > 0 && max_examples < inputs.rows) {
    inputs.rows = max_examples;
    const size_t kept = static_cast<size_t>(max_examples * inputs.row_size);
    if (!inputs.pixels.empty()) inputs.pixels.resize(kept);
    if (!inputs.values.empty()) inputs.values.resize(kept);
  }
  return inputs;
}

// The model to run: a SavedModel, or CONFIG's model with weights loaded into `*job`.
StatusOr<std::unique_ptr<ModelRunner>> OpenModel(const std::vector<std::string>& positional,
                                                 const JobOverrides& overrides,
                                                 const ModelSource& source, bool probabilities,
                                                 ModelJob* job) {
  RETURN_IF_ERROR(source.Check());
  if (source.saved_model) {
    if (!positional.empty()) {
      return InvalidArgumentError("--saved-model runs the exported model: give no CONFIG");
    }
    return SavedModelRunner(*source.saved_model, probabilities);
  }
  if (positional.size() != 1) {
    return InvalidArgumentError(
        "expected exactly one CONFIG file (or --saved-model DIR); see `shardtrain predict --help`");
  }
  ASSIGN_OR_RETURN(*job, BuildModelJob(positional[0], overrides));
  RETURN_IF_ERROR(LoadModelWeights(source.checkpoint, source.keras_file, *job));
  return JobModelRunner(job, probabilities);
}

}  // namespace

Status RunPredict(const std::vector<std::string>& args) {
  JobOverrides overrides;
  std::optional<std::string> input, output, split;
  ModelSource source;
  std::optional<int64_t> batch_size, max_examples;
  bool probabilities = false;
  FlagSet flags(
      "shardtrain predict",
      "shardtrain predict [CONFIG] --input IN --output OUT.npy|OUT.csv [flags]",
      "Writes a trained model's outputs for examples without labels (one process, CPU):\n"
      "logits as the model gives them, or --probabilities. IN is a directory of TFRecord\n"
      "shards, a .npy (float32/uint8, shape (N, features...)) or a .csv (one example a\n"
      "row). With CONFIG, .npy/.csv values are scaled as its one feature is in training\n"
      "(scale, offset; floats for a uint8 feature are used as they are); with\n"
      "--saved-model, uint8 pixels are scaled by 1/255 and floats used as they are.");
  flags.String("input", &input,
               "the examples: TFRecord shard directory, .npy or .csv file, or (with CONFIG) "
               "TFRecord files by glob");
  flags.String("split", &split, "which shards of a TFRecord directory (default: test)");
  flags.String("output", &output, "where the outputs go: .npy (float32) or .csv");
  source.AddFlags(flags);
  flags.String("run-dir", &overrides.run_dir, "run directory (training.run_dir)");
  flags.String("model-json", &overrides.model_json, "architecture from a Keras model JSON");
  flags.Int("batch-size", &batch_size, "examples per forward pass (default 1024)");
  flags.Int("max-examples", &max_examples, "first N examples only (0 = all)");
  flags.Bool("probabilities", &probabilities,
             "probabilities of a from-logits classifier instead of its logits (softmax;\n"
             "sigmoid for a one-unit binary_crossentropy output)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (!input || !output) return InvalidArgumentError("--input and --output are required");
  const bool csv_output = EndsWith(*output, ".csv");
  if (!csv_output && !EndsWith(*output, ".npy")) {
    return InvalidArgumentError("--output " + *output + ": name a .npy or .csv file");
  }
  overrides.batch_size = batch_size.value_or(1024);
  if (*overrides.batch_size <= 0 || max_examples.value_or(0) < 0) {
    return InvalidArgumentError("--batch-size must be positive and --max-examples >= 0");
  }
  ModelJob job;
  ASSIGN_OR_RETURN(std::unique_ptr<ModelRunner> runner,
                   OpenModel(flags.positional(), overrides, source, probabilities, &job));
  ASSIGN_OR_RETURN(ModelInputs inputs,
                   LoadInputs(*input, split.value_or("test"), max_examples.value_or(0),
                              source.saved_model ? nullptr : &job.config));
  int64_t outputs_per_row = 0;
  ASSIGN_OR_RETURN(std::vector<float> outputs,
                   RunInBatches(*runner, inputs, *overrides.batch_size, &outputs_per_row));
  RETURN_IF_ERROR(csv_output ? storage::WriteCsv(*output, outputs, inputs.rows, outputs_per_row)
                             : storage::WriteNpy(*output, outputs, inputs.rows, outputs_per_row));
  std::cout << "wrote " << *output << " (" << inputs.rows << " x " << outputs_per_row
            << (probabilities ? " probabilities" : " outputs") << ", float32)" << std::endl;
  return OkStatus();
}

}  // namespace shardtrain::cli
