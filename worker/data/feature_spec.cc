// Resolves and validates the feature spec. See feature_spec.h.
#include "worker/data/feature_spec.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <string>

namespace shardtrain::data {
namespace {

using config::FeatureSpec;
using config::LabelSpec;

// The default input: raw uint8 pixels named `image` scaled to [0, 1], the
// scale training has always used (ExampleDecoder applies it).
FeatureSpec DefaultImageFeature(const std::vector<int64_t>& input_shape) {
  FeatureSpec feature;
  feature.set_key("image");
  feature.set_type(FeatureSpec::BYTES_UINT8);
  for (const int64_t dim : input_shape) feature.add_shape(dim);
  feature.set_scale(1.0f / 255.0f);
  return feature;
}

// Checks one feature (`field` is "data.features[i]") and returns its value count.
StatusOr<int64_t> CheckFeature(const FeatureSpec& feature, const std::string& field) {
  if (feature.key().empty()) return InvalidArgumentError(field + ".key must be set");
  if (feature.type() == FeatureSpec::TYPE_UNSPECIFIED ||
      !FeatureSpec::Type_IsValid(feature.type())) {
    return InvalidArgumentError(field +
                                ".type must be FLOAT_LIST, INT64_LIST, BYTES_UINT8, "
                                "BYTES_FLOAT32, BYTES_PNG or BYTES_JPEG (feature '" +
                                feature.key() + "')");
  }
  ASSIGN_OR_RETURN(const int64_t count, ShapeProduct(feature.shape(), field + ".shape"));
  if (IsImageFeature(feature)) {
    const auto& shape = feature.shape();
    if (shape.size() != 3 || (shape[2] != 1 && shape[2] != 3 && shape[2] != 4)) {
      return InvalidArgumentError(field +
                                  ".shape: an image needs [height, width, channels] "
                                  "with channels 1, 3 or 4, got " +
                                  ShapeText(shape));
    }
  }
  if (!std::isfinite(feature.scale())) {
    return InvalidArgumentError(field + ".scale must be finite, got " +
                                std::to_string(feature.scale()));
  }
  if (!std::isfinite(feature.offset())) {
    return InvalidArgumentError(field + ".offset must be finite, got " +
                                std::to_string(feature.offset()));
  }
  return count;
}

// Checks the features and returns the sum of their value counts, which must
// be `input_size`.
StatusOr<int64_t> CheckFeatures(const std::vector<FeatureSpec>& features, int64_t input_size) {
  std::set<std::string> keys;
  int64_t total = 0;
  for (size_t i = 0; i < features.size(); ++i) {
    const std::string field = "data.features[" + std::to_string(i) + "]";
    ASSIGN_OR_RETURN(const int64_t count, CheckFeature(features[i], field));
    if (!keys.insert(features[i].key()).second) {
      return InvalidArgumentError(field + ".key: '" + features[i].key() +
                                  "' is used by an earlier feature; keys must be distinct");
    }
    if (count > input_size - total) {
      return InvalidArgumentError(field + " ('" + features[i].key() + "') brings the features to " +
                                  "more values than model.input_shape has (" +
                                  std::to_string(input_size) + ")");
    }
    total += count;
  }
  if (total != input_size) {
    return InvalidArgumentError("data.features: the features have " + std::to_string(total) +
                                " values in all, but model.input_shape has " +
                                std::to_string(input_size));
  }
  return total;
}

// Fills in the label's defaults and checks it; returns its width (VECTOR size, else 0).
StatusOr<int64_t> ResolveLabel(const config::DataConfig& data, LabelSpec* label) {
  if (data.has_label()) *label = data.label();
  if (label->key().empty()) label->set_key("label");
  if (!LabelSpec::Kind_IsValid(label->kind())) {
    return InvalidArgumentError("data.label.kind must be CLASS_ID or VECTOR, got " +
                                std::to_string(label->kind()));
  }
  if (label->kind() == LabelSpec::VECTOR) {
    if (label->size() <= 0) {
      return InvalidArgumentError(
          "data.label.size must be positive for a VECTOR label (the "
          "model's output width), got " +
          std::to_string(label->size()));
    }
    return label->size();
  }
  if (label->size() != 0) {
    return InvalidArgumentError(
        "data.label.size is for VECTOR labels; a CLASS_ID label has one "
        "value (got size " +
        std::to_string(label->size()) + ")");
  }
  if (data.num_classes() <= 0) {
    return InvalidArgumentError("data.num_classes must be positive for a CLASS_ID label, got " +
                                std::to_string(data.num_classes()));
  }
  return 0;
}

}  // namespace

std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape) {
  std::string text = "[";
  for (int i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The product of `shape`'s dimensions; InvalidArgument for a dimension below 1
// or a product past int64.
StatusOr<int64_t> ShapeProduct(const google::protobuf::RepeatedField<int64_t>& shape,
                               const std::string& field) {
  int64_t product = 1;
  for (const int64_t dim : shape) {
    if (dim <= 0) {
      return InvalidArgumentError(field + ": dimensions must be positive, got " + ShapeText(shape));
    }
    if (product > INT64_MAX / dim) {
      return InvalidArgumentError(field + ": " + ShapeText(shape) + " has too many values");
    }
    product *= dim;
  }
  return product;
}

int64_t FeatureValueCount(const FeatureSpec& feature) {
  const StatusOr<int64_t> count = ShapeProduct(feature.shape(), "data.features");
  return count.ok() ? *count : 0;  // a validated spec's shapes always have one
}

bool IsImageFeature(const FeatureSpec& feature) {
  return feature.type() == FeatureSpec::BYTES_PNG || feature.type() == FeatureSpec::BYTES_JPEG;
}

StatusOr<ResolvedFeatureSpec> ResolveFeatureSpec(const config::DataConfig& data,
                                                 const std::vector<int64_t>& input_shape) {
  google::protobuf::RepeatedField<int64_t> model_shape(input_shape.begin(), input_shape.end());
  if (input_shape.empty()) return InvalidArgumentError("model.input_shape must be set");
  ASSIGN_OR_RETURN(const int64_t input_size, ShapeProduct(model_shape, "model.input_shape"));
  ResolvedFeatureSpec spec;
  if (data.features().empty()) {
    spec.features.push_back(DefaultImageFeature(input_shape));
  } else {
    spec.features.assign(data.features().begin(), data.features().end());
  }
  for (FeatureSpec& feature : spec.features) {
    if (!feature.has_scale()) feature.set_scale(1.0f);
  }
  ASSIGN_OR_RETURN(spec.feature_size, CheckFeatures(spec.features, input_size));
  ASSIGN_OR_RETURN(spec.label_width, ResolveLabel(data, &spec.label));
  return spec;
}

}  // namespace shardtrain::data
