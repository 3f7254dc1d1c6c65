// The data { ... } config fragment for prepared arrays. See data_spec_fragment.h.
#include "worker/data/data_spec_fragment.h"

#include <google/protobuf/stubs/strutil.h>

#include <filesystem>

#include "worker/data/array_examples.h"
#include "worker/data/prepare.h"

namespace shardtrain::data {
namespace {

std::string Quoted(const std::string& text) {
  return "\"" + google::protobuf::CEscape(text) + "\"";
}

// "[28, 28]"
std::string ShapeList(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The shortest text that reads back as the same float.
std::string FloatText(float value) { return google::protobuf::SimpleFtoa(value); }

std::string Units(int64_t n) { return std::to_string(n) + (n == 1 ? " unit" : " units"); }

// Comment lines: the model input, the last layer and loss, the uint8 scale.
std::string AdviceComments(const ArrayDataLayout& layout) {
  int64_t values = 1;
  for (int64_t dim : layout.feature_shape) values *= dim;
  std::string text = "# model { input_shape: " + ShapeList(layout.feature_shape) + " ... }  (" +
                     std::to_string(values) + " values per example";
  text += layout.feature_shape.size() > 1 ? "; start with layers { flatten {} })\n" : ")\n";
  if (layout.class_ids) {
    text += "# labels: class ids 0.." + std::to_string(layout.num_classes - 1) +
            ": a last dense layer of " + Units(layout.num_classes) +
            " and loss { sparse_categorical_crossentropy { from_logits: true } }\n";
  } else {
    text += "# labels: " + std::to_string(layout.label_width) +
            (layout.label_width == 1 ? " float" : " floats") +
            " per example: a last dense layer of " + Units(layout.label_width) +
            " and e.g. loss { mean_squared_error {} }\n";
  }
  if (layout.raw_uint8 && !layout.scale) {
    text += "# x is uint8, fed as 0..255; `data prepare --scale 0.00392156862` feeds x / 255\n";
  }
  if (layout.validation_shards == 0) {
    text +=
        "# no validation data: the job trains without validation (or set "
        "training.validation_split)\n";
  }
  return text;
}

}  // namespace

config::DataConfig ArrayDataConfig(const ArrayDataLayout& layout) {
  namespace fs = std::filesystem;
  config::DataConfig data;
  if (layout.validation_shards > 0) {
    data.set_dir(layout.dir);
  } else {
    const std::string last = ShardFileName("train", layout.train_shards - 1, layout.train_shards);
    // "train-*-of-00004.tfrecord": this run's shards only.
    data.add_train_files(
        (fs::path(layout.dir) / ("train-*" + last.substr(last.find("-of-")))).string());
  }
  // Class ids only: VECTOR labels take their width from label.size.
  if (layout.class_ids) data.set_num_classes(layout.num_classes);
  config::FeatureSpec& feature = *data.add_features();
  feature.set_key(kArrayFeatureKey);
  feature.set_type(layout.raw_uint8 ? config::FeatureSpec::BYTES_UINT8
                                    : config::FeatureSpec::FLOAT_LIST);
  for (int64_t dim : layout.feature_shape) feature.add_shape(dim);
  if (layout.scale) feature.set_scale(*layout.scale);
  config::LabelSpec& label = *data.mutable_label();
  label.set_key(kArrayLabelKey);
  label.set_kind(layout.class_ids ? config::LabelSpec::CLASS_ID : config::LabelSpec::VECTOR);
  if (!layout.class_ids) label.set_size(layout.label_width);
  return data;
}

std::string DataSpecFragment(const ArrayDataLayout& layout) {
  const config::DataConfig data = ArrayDataConfig(layout);
  std::string text = "# Written by `shardtrain data prepare` from " + layout.source +
                     ": paste this block into your job config.\n" + AdviceComments(layout) +
                     "data {\n";
  if (!data.dir().empty()) text += "  dir: " + Quoted(data.dir()) + "\n";
  for (const std::string& pattern : data.train_files()) {
    text += "  train_files: " + Quoted(pattern) + "\n";
  }
  if (data.num_classes() > 0) text += "  num_classes: " + std::to_string(data.num_classes()) + "\n";
  for (const config::FeatureSpec& feature : data.features()) {
    text += "  features { key: " + Quoted(feature.key()) +
            " type: " + config::FeatureSpec::Type_Name(feature.type()) +
            " shape: " + ShapeList({feature.shape().begin(), feature.shape().end()}) +
            (feature.has_scale() ? " scale: " + FloatText(feature.scale()) : "") + " }\n";
  }
  text += "  label { key: " + Quoted(data.label().key()) +
          " kind: " + config::LabelSpec::Kind_Name(data.label().kind());
  if (data.label().size() > 0) text += " size: " + std::to_string(data.label().size());
  return text + " }\n}\n";
}

}  // namespace shardtrain::data
