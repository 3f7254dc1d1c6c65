// Decodes tf.train.Examples as the feature spec says. See example_decoder.h.
#include "worker/data/example_decoder.h"

#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>

#include "proto/tf/example.pb.h"
#include "storage/image/image_decode.h"
#include "worker/data/feature_spec.h"

namespace shardtrain::data {
namespace {

using config::FeatureSpec;
using config::LabelSpec;

const char* KindName(const tf::Feature& feature) {
  switch (feature.kind_case()) {
    case tf::Feature::kBytesList:
      return "a bytes_list";
    case tf::Feature::kFloatList:
      return "a float_list";
    case tf::Feature::kInt64List:
      return "an int64_list";
    case tf::Feature::KIND_NOT_SET:
      break;
  }
  return "an empty feature (no value list)";
}

std::string FeatureNames(const tf::Example& example) {
  std::set<std::string> names;
  for (const auto& [name, feature] : example.features().feature()) names.insert(name);
  if (names.empty()) return "none";
  std::string joined;
  for (const std::string& name : names) joined += (joined.empty() ? "'" : ", '") + name + "'";
  return joined;
}

// The feature `key` of `example`; `role` ("feature", "label") names it in errors.
StatusOr<const tf::Feature*> FindFeature(const tf::Example& example, const std::string& key,
                                         const char* role) {
  const auto& features = example.features().feature();
  auto found = features.find(key);
  if (found == features.end()) {
    return InvalidArgumentError(std::string(role) + " '" + key +
                                "' is missing (the example has: " + FeatureNames(example) + ")");
  }
  return &found->second;
}

// InvalidArgument "<role> '<key>': expected <expected>, found <what>".
Status Mismatch(const char* role, const std::string& key, const std::string& expected,
                const std::string& found) {
  return InvalidArgumentError(std::string(role) + " '" + key + "': expected " + expected +
                              ", found " + found);
}

Status NonFinite(const char* role, const std::string& key, int64_t index, float value) {
  return InvalidArgumentError(std::string(role) + " '" + key + "': value " + std::to_string(index) +
                              " is " + std::to_string(value) + "; values must be finite");
}

// The float or int64 values of a `count`-value list as floats in `out`
// (int64 converted, floats checked finite), before scaling.
Status ReadNumberList(const tf::Feature& feature, tf::Feature::KindCase kind, int64_t count,
                      const char* role, const std::string& key, float* out) {
  const char* expected = kind == tf::Feature::kFloatList ? "a float_list" : "an int64_list";
  if (feature.kind_case() != kind) {
    return Mismatch(role, key, std::string(expected) + " with " + std::to_string(count) + " values",
                    KindName(feature));
  }
  const int size = kind == tf::Feature::kFloatList ? feature.float_list().value_size()
                                                   : feature.int64_list().value_size();
  if (size != count) {
    return Mismatch(role, key, std::string(expected) + " with " + std::to_string(count) + " values",
                    std::to_string(size) + " values");
  }
  if (kind == tf::Feature::kInt64List) {
    const auto& values = feature.int64_list().value();
    for (int i = 0; i < size; ++i) out[i] = static_cast<float>(values[i]);
    return OkStatus();
  }
  const auto& values = feature.float_list().value();
  for (int i = 0; i < size; ++i) {
    if (!std::isfinite(values[i])) return NonFinite(role, key, i, values[i]);
    out[i] = values[i];
  }
  return OkStatus();
}

// "a bytes_list with one value[ of N bytes]" for errors; `size` 0: any length.
std::string ExpectedBytes(int64_t size) {
  return "a bytes_list with one value" +
         (size > 0 ? " of " + std::to_string(size) + " bytes" : std::string());
}

// The one value of a bytes_list feature; `size` (0 for any) is its length in bytes.
StatusOr<const std::string*> SingleBytes(const tf::Feature& feature, const std::string& key,
                                         int64_t size) {
  if (feature.kind_case() != tf::Feature::kBytesList) {
    return Mismatch("feature", key, ExpectedBytes(size), KindName(feature));
  }
  if (feature.bytes_list().value_size() != 1) {
    return Mismatch("feature", key, ExpectedBytes(size),
                    std::to_string(feature.bytes_list().value_size()) + " values");
  }
  const std::string& bytes = feature.bytes_list().value(0);
  if (size > 0 && static_cast<int64_t>(bytes.size()) != size) {
    return InvalidArgumentError("feature '" + key + "': expected " + ExpectedBytes(size) +
                                ", got " + std::to_string(bytes.size()) + " bytes");
  }
  return &bytes;
}

// `count` little-endian float32 values from `bytes` into `out`, checked finite.
Status ReadFloat32Bytes(const std::string& bytes, int64_t count, const std::string& key,
                        float* out) {
  for (int64_t i = 0; i < count; ++i) {
    uint32_t bits;
    std::memcpy(&bits, bytes.data() + i * 4, sizeof(bits));
    if constexpr (std::endian::native == std::endian::big) bits = __builtin_bswap32(bits);
    const float value = std::bit_cast<float>(bits);
    if (!std::isfinite(value)) return NonFinite("feature", key, i, value);
    out[i] = value;
  }
  return OkStatus();
}

// Decodes a PNG/JPEG feature of the spec's shape into a per-thread buffer,
// which keeps its memory across calls.
StatusOr<const uint8_t*> DecodeImage(const std::string& bytes, const FeatureSpec& spec,
                                     int64_t count) {
  thread_local std::vector<uint8_t> pixels;
  if (pixels.size() < static_cast<size_t>(count)) pixels.resize(static_cast<size_t>(count));
  const storage::ImageShape shape{spec.shape(0), spec.shape(1), spec.shape(2)};
  const Status status = spec.type() == FeatureSpec::BYTES_PNG
                            ? storage::DecodePngInto(bytes, shape, pixels.data())
                            : storage::DecodeJpegInto(bytes, shape, pixels.data());
  if (!status.ok()) return status.WithContext("feature '" + spec.key() + "'");
  return pixels.data();
}

// value * scale + offset for `count` values in place.
void ScaleInPlace(const FeatureSpec& spec, int64_t count, float* values) {
  const float scale = spec.scale();
  const float offset = spec.offset();
  if (scale == 1.0f && offset == 0.0f) return;
  for (int64_t i = 0; i < count; ++i) values[i] = values[i] * scale + offset;
}

// pixel * scale + offset for `count` uint8 values; with the default spec
// (offset 0) this is static_cast<float>(pixel) * (1.0f / 255.0f) bit for bit.
void ScaleBytes(const uint8_t* bytes, const FeatureSpec& spec, int64_t count, float* out) {
  const float scale = spec.scale();
  const float offset = spec.offset();
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(bytes[i]) * scale + offset;
}

// Writes the `count` values of the feature `spec` of `example` to `out`.
Status DecodeFeature(const tf::Example& example, const FeatureSpec& spec, int64_t count,
                     float* out) {
  ASSIGN_OR_RETURN(const tf::Feature* feature, FindFeature(example, spec.key(), "feature"));
  switch (spec.type()) {
    case FeatureSpec::FLOAT_LIST:
    case FeatureSpec::INT64_LIST: {
      const auto kind = spec.type() == FeatureSpec::FLOAT_LIST ? tf::Feature::kFloatList
                                                               : tf::Feature::kInt64List;
      RETURN_IF_ERROR(ReadNumberList(*feature, kind, count, "feature", spec.key(), out));
      ScaleInPlace(spec, count, out);
      return OkStatus();
    }
    case FeatureSpec::BYTES_UINT8: {
      ASSIGN_OR_RETURN(const std::string* bytes, SingleBytes(*feature, spec.key(), count));
      ScaleBytes(reinterpret_cast<const uint8_t*>(bytes->data()), spec, count, out);
      return OkStatus();
    }
    case FeatureSpec::BYTES_FLOAT32: {
      ASSIGN_OR_RETURN(const std::string* bytes, SingleBytes(*feature, spec.key(), count * 4));
      RETURN_IF_ERROR(ReadFloat32Bytes(*bytes, count, spec.key(), out));
      ScaleInPlace(spec, count, out);
      return OkStatus();
    }
    default: {  // BYTES_PNG, BYTES_JPEG (Create accepts no other type)
      ASSIGN_OR_RETURN(const std::string* bytes, SingleBytes(*feature, spec.key(), 0));
      ASSIGN_OR_RETURN(const uint8_t* pixels, DecodeImage(*bytes, spec, count));
      ScaleBytes(pixels, spec, count, out);
      return OkStatus();
    }
  }
}

// A CLASS_ID label: an int64_list of one value in [0, num_classes).
StatusOr<int32_t> DecodeClassId(const tf::Feature& feature, const std::string& key,
                                int64_t num_classes) {
  if (feature.kind_case() != tf::Feature::kInt64List || feature.int64_list().value_size() != 1) {
    return Mismatch("label", key, "an int64_list with one value (a class id)",
                    feature.kind_case() == tf::Feature::kInt64List
                        ? std::to_string(feature.int64_list().value_size()) + " values"
                        : std::string(KindName(feature)));
  }
  const int64_t value = feature.int64_list().value(0);
  if (value < 0 || value >= num_classes) {
    return InvalidArgumentError(
        "label '" + key + "': class id " + std::to_string(value) + " is outside [0, " +
        std::to_string(num_classes) + ") for a model with " + std::to_string(num_classes) +
        " classes; labels are class ids: set data.num_classes to the number of classes, or fix "
        "the record");
  }
  return static_cast<int32_t>(value);
}

// A VECTOR label: a float_list (or int64_list) of `width` values.
Status DecodeLabelVector(const tf::Feature& feature, const std::string& key, int64_t width,
                         float* out) {
  const auto kind = feature.kind_case() == tf::Feature::kInt64List ? tf::Feature::kInt64List
                                                                   : tf::Feature::kFloatList;
  return ReadNumberList(feature, kind, width, "label", key, out);
}

}  // namespace

StatusOr<ExampleDecoder> ExampleDecoder::Create(const config::DataConfig& data,
                                                const std::vector<int64_t>& input_shape) {
  ASSIGN_OR_RETURN(ResolvedFeatureSpec spec, ResolveFeatureSpec(data, input_shape));
  ExampleDecoder decoder;
  decoder.features_ = std::move(spec.features);
  decoder.label_ = std::move(spec.label);
  decoder.num_classes_ = data.num_classes();
  decoder.feature_size_ = spec.feature_size;
  decoder.label_width_ = spec.label_width;
  return decoder;
}

Status ExampleDecoder::Decode(std::string_view record, float* features, int32_t* class_id,
                              float* label_values) const {
  if (record.size() > static_cast<size_t>(INT_MAX)) {  // protobuf parses int-sized buffers
    return DataLossError("record of " + std::to_string(record.size()) +
                         " bytes is larger than a tf.train.Example can be");
  }
  thread_local tf::Example example;  // reused: keeps its allocations across records
  if (!example.ParseFromArray(record.data(), static_cast<int>(record.size()))) {
    return DataLossError("not a valid tf.train.Example (" + std::to_string(record.size()) +
                         " bytes)");
  }
  float* out = features;
  for (const FeatureSpec& spec : features_) {
    const int64_t count = FeatureValueCount(spec);
    RETURN_IF_ERROR(DecodeFeature(example, spec, count, out));
    out += count;
  }
  const bool is_class_id = label_.kind() == LabelSpec::CLASS_ID;
  if (is_class_id ? class_id == nullptr : label_values == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(const tf::Feature* label, FindFeature(example, label_.key(), "label"));
  if (!is_class_id) return DecodeLabelVector(*label, label_.key(), label_width_, label_values);
  ASSIGN_OR_RETURN(*class_id, DecodeClassId(*label, label_.key(), num_classes_));
  return OkStatus();
}

}  // namespace shardtrain::data
