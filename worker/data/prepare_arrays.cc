// NumPy/CSV arrays -> TFRecord shards and a config fragment. See prepare_arrays.h.
#include "worker/data/prepare_arrays.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <filesystem>

#include "storage/arrays/csv_file.h"
#include "storage/arrays/npy_data.h"
#include "storage/arrays/npz_file.h"
#include "worker/data/data_spec_fragment.h"
#include "worker/data/record_shards.h"

namespace shardtrain::data {
namespace {

namespace fs = std::filesystem;

constexpr int kDefaultShards = 4;

StatusOr<ArraySplit> SplitFromArrays(const storage::NpyData& x, const std::string& x_name,
                                     const storage::NpyData& y, const std::string& y_name) {
  ASSIGN_OR_RETURN(FeatureArray features, FeaturesFromNpy(x, x_name));
  ASSIGN_OR_RETURN(LabelArray labels, LabelsFromNpy(y, y_name));
  return MakeSplit(std::move(features), x_name, std::move(labels), y_name);
}

// "x.npy and y.npy", "data.npz (x_train, y_train)", "data.csv (label column 'y')".
std::string SourceText(const PrepareArraysOptions& options) {
  switch (options.format) {
    case ArrayFormat::kNpy:
      return options.train.features + " and " + options.train.labels;
    case ArrayFormat::kNpz:
      return options.npz_path + " (" + options.train.features + ", " + options.train.labels + ")";
    case ArrayFormat::kCsv:
      break;
  }
  return options.train.features + " (label column '" + options.label_column + "')";
}

// InvalidArgument naming both sources when the validation split's layout
// differs from the training split's.
Status CheckSplitsAgree(const ArraySplit& train, const ArraySplit& validation) {
  auto differ = [&](const std::string& what) {
    return InvalidArgumentError("the training and validation data differ in " + what + ": " +
                                train.features_source + " / " + train.labels_source + " vs " +
                                validation.features_source + " / " + validation.labels_source);
  };
  const FeatureArray& x = train.features;
  const FeatureArray& vx = validation.features;
  if (x.shape != vx.shape) {
    return differ("feature shape (" + storage::NpyShapeString(x.shape) + " vs " +
                  storage::NpyShapeString(vx.shape) + " per example)");
  }
  if (x.raw_uint8 != vx.raw_uint8) return differ("feature dtype (uint8 vs not)");
  if (train.labels.class_ids != validation.labels.class_ids) {
    return differ("label kind (integer class ids vs float values)");
  }
  if (train.labels.width != validation.labels.width) return differ("label width");
  return OkStatus();
}

// The serialized Example of each row, map keys in a fixed order.
SerializeRecord ExampleSerializer(const ArraySplit& split) {
  auto example = std::make_shared<tf::Example>();
  return [&split, example](int64_t row, std::string* bytes) {
    FillExample(split, row, example.get());
    bytes->clear();
    google::protobuf::io::StringOutputStream stream(bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!example->SerializeToCodedStream(&coded)) {
      return InternalError("cannot serialize example " + std::to_string(row) + " of " +
                           split.features_source);
    }
    return OkStatus();
  };
}

int ShardsFor(const PrepareArraysOptions& options, int64_t rows) {
  if (options.num_shards > 0) return options.num_shards;
  return static_cast<int>(std::min<int64_t>(kDefaultShards, rows));
}

int64_t MaxClassId(const ArraySplit& split) {
  const auto& ids = split.labels.ids;
  return ids.empty() ? -1 : *std::max_element(ids.begin(), ids.end());
}

}  // namespace

StatusOr<ArraySplit> LoadArraySplit(const PrepareArraysOptions& options,
                                    const ArraySplitSource& source, const ArraySplit* training) {
  switch (options.format) {
    case ArrayFormat::kNpy: {
      ASSIGN_OR_RETURN(const storage::NpyData x, storage::ReadNpyData(source.features));
      ASSIGN_OR_RETURN(const storage::NpyData y, storage::ReadNpyData(source.labels));
      return SplitFromArrays(x, source.features, y, source.labels);
    }
    case ArrayFormat::kNpz: {
      ASSIGN_OR_RETURN(const storage::NpyData x,
                       storage::ReadNpzArray(options.npz_path, source.features));
      ASSIGN_OR_RETURN(const storage::NpyData y,
                       storage::ReadNpzArray(options.npz_path, source.labels));
      return SplitFromArrays(x, options.npz_path + ":" + source.features, y,
                             options.npz_path + ":" + source.labels);
    }
    case ArrayFormat::kCsv:
      break;
  }
  ASSIGN_OR_RETURN(storage::CsvTable table, storage::ReadCsvWithHeader(source.features));
  if (training != nullptr) {
    ASSIGN_OR_RETURN(table, CsvColumnsInOrder(std::move(table), source.features,
                                              training->csv_header, training->features_source));
  }
  return SplitFromCsv(table, source.features, options.label_column);
}

Status PrepareArrays(const PrepareArraysOptions& options, std::ostream* log) {
  ASSIGN_OR_RETURN(const ArraySplit train, LoadArraySplit(options, options.train));
  std::optional<ArraySplit> validation;
  if (options.validation) {
    ASSIGN_OR_RETURN(validation, LoadArraySplit(options, *options.validation, &train));
    RETURN_IF_ERROR(CheckSplitsAgree(train, *validation));
  }
  RETURN_IF_ERROR(PrepareOutputDirectory(options.output_dir));
  ArrayDataLayout layout;
  layout.dir = fs::absolute(options.output_dir).lexically_normal().string();
  if (layout.dir.size() > 1 && layout.dir.back() == '/') layout.dir.pop_back();
  layout.train_shards = ShardsFor(options, train.features.rows);
  RETURN_IF_ERROR(WriteRecordShards(options.output_dir, "train", train.features.rows,
                                    layout.train_shards, ExampleSerializer(train), log));
  int64_t max_class_id = MaxClassId(train);
  if (validation) {
    layout.validation_shards = ShardsFor(options, validation->features.rows);
    RETURN_IF_ERROR(WriteRecordShards(options.output_dir, "test", validation->features.rows,
                                      layout.validation_shards, ExampleSerializer(*validation),
                                      log));
    max_class_id = std::max(max_class_id, MaxClassId(*validation));
  }
  layout.feature_shape = train.features.shape;
  layout.raw_uint8 = train.features.raw_uint8;
  layout.scale = options.scale;
  layout.class_ids = train.labels.class_ids;
  layout.label_width = train.labels.width;
  layout.num_classes = max_class_id + 1;
  layout.source = SourceText(options);
  const std::string fragment = DataSpecFragment(layout);
  const std::string spec_path = (fs::path(options.output_dir) / kDataSpecFileName).string();
  RETURN_IF_ERROR(WriteFileDurably(spec_path, fragment));
  if (log != nullptr) *log << "wrote " << spec_path << ":\n" << fragment;
  return OkStatus();
}

}  // namespace shardtrain::data
