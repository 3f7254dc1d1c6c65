// `shardtrain data prepare`: turns a dataset's source files (Fashion-MNIST's
// idx files, or a user's .npy pair, .npz arrays or CSV file) into TFRecord
// shards of tf.train.Example that `shardtrain train` reads.
// `shardtrain data inspect FILE`: the features of a TFRecord file's first
// records (and, with --count, how many records it holds).
#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "common/flags.h"
#include "worker/data/inspect.h"
#include "worker/data/prepare.h"
#include "worker/data/prepare_arrays.h"
#include "worker/data/record_shards.h"

namespace shardtrain::cli {
namespace {

// The flags of `data prepare`.
struct PrepareFlags {
  std::optional<std::string> dataset, source, output;
  std::optional<int64_t> num_shards;
  std::optional<float> scale;
  std::optional<std::string> features, labels, validation_features, validation_labels;
  std::optional<std::string> npz, features_key, labels_key, validation_features_key,
      validation_labels_key;
  std::optional<std::string> csv, label_column, validation_csv;
};

void DeclarePrepareFlags(FlagSet* flags, PrepareFlags* f) {
  flags->String("dataset", &f->dataset, "dataset to convert: fashion_mnist");
  flags->String(
      "source", &f->source,
      "fashion_mnist: directory of the idx .gz files (default "
      "/usr/share/datasets/fashion-mnist, from the Debian package dataset-fashion-mnist)");
  flags->String("output", &f->output, "directory to write the shards into (created if missing)");
  flags->Int("num-shards", &f->num_shards,
             "shards per split (default 4; for arrays at most one per example)");
  flags->Float("scale", &f->scale,
               "arrays/CSV: the feature scale the config fragment sets (e.g. 0.00392156862: "
               "pixels / 255, as x / 255 before fit); the shards keep the values as given");
  flags->String("features", &f->features, "x as a .npy file (model.fit's first argument)");
  flags->String("labels", &f->labels, "y as a .npy file, as many rows as --features");
  flags->String("validation-features", &f->validation_features, "validation x (.npy)");
  flags->String("validation-labels", &f->validation_labels, "validation y (.npy)");
  flags->String("npz", &f->npz, "an .npz archive (np.savez) holding x and y");
  flags->String("features-key", &f->features_key, "--npz: the array of x (default x_train)");
  flags->String("labels-key", &f->labels_key, "--npz: the array of y (default y_train)");
  flags->String("validation-features-key", &f->validation_features_key,
                "--npz: the array of validation x (e.g. x_test)");
  flags->String("validation-labels-key", &f->validation_labels_key,
                "--npz: the array of validation y (e.g. y_test)");
  flags->String("csv", &f->csv, "a CSV file with a header row: one example per line");
  flags->String("label-column", &f->label_column, "--csv: the header name of the label column");
  flags->String("validation-csv", &f->validation_csv,
                "--csv: validation examples; the training CSV's column names, in any order");
}

// The input formats of `data prepare`, as bits, named by the flag that selects them.
enum Format : unsigned { kDataset = 1, kNpy = 2, kNpz = 4, kCsv = 8 };
constexpr unsigned kArrays = kNpy | kNpz | kCsv;
constexpr unsigned kAll = kDataset | kArrays;

const char* FormatFlag(Format format) {
  switch (format) {
    case kDataset:
      return "--dataset";
    case kNpy:
      return "--features";
    case kNpz:
      return "--npz";
    default:
      return "--csv";
  }
}

// The one table of which flags belong to which formats; a flag set for a
// format it does not belong to is refused, never silently ignored.
struct FlagFormats {
  const char* name;
  bool (*set)(const PrepareFlags&);
  unsigned formats;
};
constexpr FlagFormats kFlagFormats[] = {
    {"source", [](const PrepareFlags& f) { return f.source.has_value(); }, kDataset},
    {"output", [](const PrepareFlags& f) { return f.output.has_value(); }, kAll},
    {"num-shards", [](const PrepareFlags& f) { return f.num_shards.has_value(); }, kAll},
    {"scale", [](const PrepareFlags& f) { return f.scale.has_value(); }, kArrays},
    {"labels", [](const PrepareFlags& f) { return f.labels.has_value(); }, kNpy},
    {"validation-features", [](const PrepareFlags& f) { return f.validation_features.has_value(); },
     kNpy},
    {"validation-labels", [](const PrepareFlags& f) { return f.validation_labels.has_value(); },
     kNpy},
    {"features-key", [](const PrepareFlags& f) { return f.features_key.has_value(); }, kNpz},
    {"labels-key", [](const PrepareFlags& f) { return f.labels_key.has_value(); }, kNpz},
    {"validation-features-key",
     [](const PrepareFlags& f) { return f.validation_features_key.has_value(); }, kNpz},
    {"validation-labels-key",
     [](const PrepareFlags& f) { return f.validation_labels_key.has_value(); }, kNpz},
    {"label-column", [](const PrepareFlags& f) { return f.label_column.has_value(); }, kCsv},
    {"validation-csv", [](const PrepareFlags& f) { return f.validation_csv.has_value(); }, kCsv},
};

// InvalidArgument naming the first flag set that does not belong to `format`.
Status CheckFlagsBelongTo(Format format, const PrepareFlags& f) {
  for (const FlagFormats& flag : kFlagFormats) {
    if (flag.set(f) && (flag.formats & format) == 0) {
      return InvalidArgumentError("--" + std::string(flag.name) + " does not apply to " +
                                  FormatFlag(format));
    }
  }
  return OkStatus();
}

// The validation pair: both set, or neither.
StatusOr<std::optional<data::ArraySplitSource>> ValidationPair(
    const std::optional<std::string>& features, const std::optional<std::string>& labels,
    const std::string& features_flag, const std::string& labels_flag) {
  if (features.has_value() != labels.has_value()) {
    return InvalidArgumentError("--" + features_flag + " and --" + labels_flag +
                                " go together: give both or neither");
  }
  if (!features) return std::optional<data::ArraySplitSource>();
  return std::optional<data::ArraySplitSource>(data::ArraySplitSource{*features, *labels});
}

StatusOr<data::PrepareArraysOptions> NpyOptions(const PrepareFlags& f) {
  if (!f.labels) return InvalidArgumentError("--features needs --labels (the y .npy file)");
  data::PrepareArraysOptions options;
  options.format = data::ArrayFormat::kNpy;
  options.train = {*f.features, *f.labels};
  ASSIGN_OR_RETURN(options.validation, ValidationPair(f.validation_features, f.validation_labels,
                                                      "validation-features", "validation-labels"));
  return options;
}

StatusOr<data::PrepareArraysOptions> NpzOptions(const PrepareFlags& f) {
  data::PrepareArraysOptions options;
  options.format = data::ArrayFormat::kNpz;
  options.npz_path = *f.npz;
  options.train = {f.features_key.value_or("x_train"), f.labels_key.value_or("y_train")};
  ASSIGN_OR_RETURN(options.validation,
                   ValidationPair(f.validation_features_key, f.validation_labels_key,
                                  "validation-features-key", "validation-labels-key"));
  return options;
}

StatusOr<data::PrepareArraysOptions> CsvOptions(const PrepareFlags& f) {
  if (!f.label_column) return InvalidArgumentError("--csv needs --label-column NAME");
  data::PrepareArraysOptions options;
  options.format = data::ArrayFormat::kCsv;
  options.label_column = *f.label_column;
  options.train = {*f.csv, ""};
  if (f.validation_csv) options.validation = data::ArraySplitSource{*f.validation_csv, ""};
  return options;
}

Status RunPrepareArrays(const PrepareFlags& f) {
  StatusOr<data::PrepareArraysOptions> options = f.npz   ? NpzOptions(f)
                                                 : f.csv ? CsvOptions(f)
                                                         : NpyOptions(f);
  RETURN_IF_ERROR(options.status());
  options->output_dir = *f.output;
  options->num_shards = static_cast<int>(f.num_shards.value_or(0));
  options->scale = f.scale;
  return data::PrepareArrays(*options, &std::cout);
}

Status RunPrepare(const std::vector<std::string>& args) {
  PrepareFlags f;
  FlagSet flags(
      "shardtrain data prepare",
      "shardtrain data prepare --dataset fashion_mnist --output DIR [flags]\n"
      "       shardtrain data prepare --features x.npy --labels y.npy --output DIR\n"
      "       shardtrain data prepare --npz data.npz --output DIR [--features-key K]\n"
      "       shardtrain data prepare --csv data.csv --label-column NAME --output DIR",
      "Writes train-NNNNN-of-NNNNN.tfrecord (and test-NNNNN-of-NNNNN.tfrecord for\n"
      "validation data) shards of tf.train.Example into DIR. Fashion-MNIST: image (784\n"
      "raw bytes) and label (int64). Arrays and CSV: feature x (float_list, or raw bytes\n"
      "for uint8) and label y (int64 class id for integer labels, else a float_list),\n"
      "plus DIR/data_spec.textproto, the data { ... } block for the job config.");
  DeclarePrepareFlags(&flags, &f);
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (!flags.positional().empty()) {
    return InvalidArgumentError("unexpected argument '" + flags.positional()[0] + "'");
  }
  const int sources =
      f.dataset.has_value() + f.features.has_value() + f.npz.has_value() + f.csv.has_value();
  if (sources != 1) {
    return InvalidArgumentError(
        "give exactly one of --dataset fashion_mnist, --features x.npy, "
        "--npz data.npz or --csv data.csv");
  }
  const Format format = f.dataset ? kDataset : f.npz ? kNpz : f.csv ? kCsv : kNpy;
  RETURN_IF_ERROR(CheckFlagsBelongTo(format, f));
  if (!f.output) return InvalidArgumentError("--output DIR is required");
  if (f.num_shards && (*f.num_shards < 1 || *f.num_shards > data::kMaxShards)) {
    return InvalidArgumentError("--num-shards must be in [1, " + std::to_string(data::kMaxShards) +
                                "], got " +
                                std::to_string(*f.num_shards));
  }
  if (f.scale && !(std::isfinite(*f.scale) && *f.scale != 0)) {
    return InvalidArgumentError("--scale must be finite and non-zero");
  }
  if (!f.dataset) return RunPrepareArrays(f);
  if (*f.dataset != "fashion_mnist") {
    return InvalidArgumentError(
        "--dataset must be fashion_mnist (the only dataset with a "
        "converter); for your own arrays use --features, --npz or --csv");
  }
  return data::PrepareFashionMnist(f.source.value_or(data::kDefaultFashionMnistDir), *f.output,
                                   static_cast<int>(f.num_shards.value_or(4)), &std::cout);
}

StatusOr<storage::TfRecordCompression> ParseCompression(const std::string& name) {
  for (const auto compression :
       {storage::TfRecordCompression::kNone, storage::TfRecordCompression::kGzip,
        storage::TfRecordCompression::kZlib}) {
    if (name == storage::TfRecordCompressionName(compression)) return compression;
  }
  return InvalidArgumentError("--compression must be NONE, GZIP or ZLIB, got '" + name + "'");
}

Status RunInspectRecords(const std::vector<std::string>& args) {
  std::optional<int64_t> records;
  std::optional<std::string> compression;
  data::InspectOptions options;
  FlagSet flags("shardtrain data inspect", "shardtrain data inspect FILE [flags]",
                "Prints the feature keys, types and value counts of the first records of a\n"
                "TFRecord file of tf.train.Example, to write the job's data.features from.");
  flags.Bool("count", &options.count, "also count the file's records (reads all of it)");
  flags.Int("records", &records, "records to describe (default 1)");
  flags.String("compression", &compression,
               "NONE, GZIP or ZLIB (default: guessed from the file's first bytes)");
  RETURN_IF_ERROR(flags.Parse(args));
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return OkStatus();
  }
  if (flags.positional().size() != 1) {
    return InvalidArgumentError("expected one FILE; see `shardtrain data inspect --help`");
  }
  if (records && *records < 0) return InvalidArgumentError("--records must be >= 0");
  options.records = records.value_or(1);
  if (compression) {
    ASSIGN_OR_RETURN(options.compression, ParseCompression(*compression));
  }
  return data::InspectTfRecordFile(flags.positional()[0], options, &std::cout);
}

}  // namespace

Status RunData(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "prepare") return RunPrepare({args.begin() + 1, args.end()});
  if (!args.empty() && args[0] == "inspect") {
    return RunInspectRecords({args.begin() + 1, args.end()});
  }
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    std::cout << "usage: shardtrain data prepare [flags]   convert a dataset into TFRecord shards\n"
                 "       shardtrain data inspect FILE      describe a TFRecord file's examples\n"
                 "`shardtrain data prepare --help` and `shardtrain data inspect --help` list the "
                 "flags.\n";
    return OkStatus();
  }
  return InvalidArgumentError(
      "expected `shardtrain data prepare ...` or `shardtrain data inspect "
      "FILE`; see `shardtrain data --help`");
}

}  // namespace shardtrain::cli
