// Fuzzes ExampleDecoder::Decode (worker/data/example_decoder): the input is one
// serialized tf.train.Example, decoded under three feature specs — the default
// (`image` BYTES_UINT8 [4, 4, 1] scaled by 1/255, `label` CLASS_ID of 10), a
// mixed one (FLOAT_LIST, INT64_LIST, BYTES_FLOAT32, BYTES_UINT8 features and a
// VECTOR label of 2) and an image one (BYTES_PNG [2, 2, 1], BYTES_JPEG
// [2, 2, 3], CLASS_ID of 3). A decode that succeeds must have written every
// output value, finite (the default spec's within [0, 1]), and a class id in
// range; decoding again without a target must succeed with the same features.
// Traps otherwise.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "proto/config.pb.h"
#include "worker/data/example_decoder.h"

namespace cfg = shardtrain::config;
using shardtrain::data::ExampleDecoder;

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void AddFeature(cfg::DataConfig* data, const char* key, cfg::FeatureSpec::Type type,
                std::vector<int64_t> shape, float scale, float offset) {
  cfg::FeatureSpec* feature = data->add_features();
  feature->set_key(key);
  feature->set_type(type);
  for (int64_t dim : shape) feature->add_shape(dim);
  feature->set_scale(scale);
  feature->set_offset(offset);
}

struct Spec {
  ExampleDecoder decoder;
  int64_t num_classes;  // 0: a VECTOR label
  bool unit_range;      // every feature value lies in [0, 1]
};

Spec MakeSpec(const cfg::DataConfig& data, const std::vector<int64_t>& input_shape,
              bool unit_range) {
  auto decoder = ExampleDecoder::Create(data, input_shape);
  if (!decoder.ok()) __builtin_trap();
  return Spec{*std::move(decoder), data.num_classes(), unit_range};
}

std::vector<Spec> MakeSpecs() {
  std::vector<Spec> specs;
  cfg::DataConfig by_default;
  by_default.set_num_classes(10);
  specs.push_back(MakeSpec(by_default, {4, 4, 1}, /*unit_range=*/true));

  cfg::DataConfig mixed;
  AddFeature(&mixed, "f", cfg::FeatureSpec::FLOAT_LIST, {3}, 1.0f, 0.0f);
  AddFeature(&mixed, "i", cfg::FeatureSpec::INT64_LIST, {2}, 0.5f, 1.0f);
  AddFeature(&mixed, "b", cfg::FeatureSpec::BYTES_FLOAT32, {2}, 1.0f, 0.0f);
  AddFeature(&mixed, "u", cfg::FeatureSpec::BYTES_UINT8, {}, 1.0f / 255.0f, 0.0f);
  mixed.mutable_label()->set_key("y");
  mixed.mutable_label()->set_kind(cfg::LabelSpec::VECTOR);
  mixed.mutable_label()->set_size(2);
  specs.push_back(MakeSpec(mixed, {8}, /*unit_range=*/false));

  cfg::DataConfig images;
  images.set_num_classes(3);
  AddFeature(&images, "png", cfg::FeatureSpec::BYTES_PNG, {2, 2, 1}, 1.0f / 255.0f, 0.0f);
  AddFeature(&images, "jpeg", cfg::FeatureSpec::BYTES_JPEG, {2, 2, 3}, 1.0f / 255.0f, 0.0f);
  specs.push_back(MakeSpec(images, {16}, /*unit_range=*/true));
  return specs;
}

void FuzzOne(const Spec& spec, std::string_view record) {
  const ExampleDecoder& decoder = spec.decoder;
  std::vector<float> features(static_cast<size_t>(decoder.feature_size()), NAN);
  std::vector<float> label(static_cast<size_t>(decoder.label_width()), NAN);
  int32_t class_id = -1;
  if (!decoder.Decode(record, features.data(), &class_id, label.data()).ok()) return;
  for (float value : features) {
    Check(std::isfinite(value));
    if (spec.unit_range) Check(value >= 0.0f && value <= 1.0f);
  }
  for (float value : label) Check(std::isfinite(value));
  if (spec.num_classes > 0) Check(class_id >= 0 && class_id < spec.num_classes);

  std::vector<float> unlabelled(features.size(), NAN);
  Check(decoder.Decode(record, unlabelled.data(), nullptr, nullptr).ok());
  Check(std::memcmp(unlabelled.data(), features.data(), features.size() * sizeof(float)) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<Spec>* specs = new std::vector<Spec>(MakeSpecs());
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  for (const Spec& spec : *specs) FuzzOne(spec, record);
  return 0;
}
