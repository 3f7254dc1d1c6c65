// ExampleDecoder: turns one serialized tf.train.Example into a model input row
// and a target, as the job's feature spec says (config::DataConfig features and
// label; proto/config.proto documents each type), the way
// tf.io.parse_single_example with FixedLenFeature would.
//
// Contract:
// - Create() resolves the defaults (no `features`: the `shardtrain data
//   prepare` schema, `image` BYTES_UINT8 of model.input_shape scaled by 1/255;
//   no `label`: `label` CLASS_ID) and validates the spec: keys non-empty and
//   distinct, every type set, shapes positive with an overflow-safe product,
//   image shapes [h, w, c] with c in {1, 3, 4}, scale/offset finite, the sum
//   of the features' sizes equal to the model input size, a VECTOR label with
//   size > 0, num_classes > 0 for CLASS_ID. InvalidArgument names the field
//   (e.g. "data.features[1].shape").
// - Decode() writes feature_size() floats (value * scale + offset, features
//   concatenated in spec order, each row-major) and the target: a class id in
//   [0, num_classes) to `*class_id`, or label_width() floats to `label_values`.
//   A null target pointer skips the label (prediction: examples need none);
//   the pointer of the other label kind is ignored. Images decode as
//   storage/image/image_decode.h says (their own channels, 8-bit) and must
//   have the feature's [h, w, c] exactly; their pixels are then scaled like
//   BYTES_UINT8. The default spec gives static_cast<float>(pixel) *
//   (1.0f / 255.0f), bit for bit what training has always computed.
//   Details of the defaults and checks: worker/data/feature_spec.h.
//   Errors name the feature and what is wrong, never the file (the caller
//   prefixes "FILE, record N: "):
//     DataLoss         the bytes are not a tf.train.Example, or an image does
//                      not decode (corrupt PNG/JPEG);
//     InvalidArgument  a missing key, a wrong value type (e.g. bytes_list where
//                      float_list is expected), a wrong value count or byte
//                      length, an image whose decoded shape differs from the
//                      spec, a class id outside [0, num_classes), a
//                      non-finite float.
// Decode() is const and thread-safe; one decoder may serve several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::data {

class ExampleDecoder {
 public:
  // `input_shape` is model.input_shape (one example, without the batch dimension).
  static StatusOr<ExampleDecoder> Create(const config::DataConfig& data,
                                         const std::vector<int64_t>& input_shape);

  // Values per example of the model input (the product of input_shape).
  int64_t feature_size() const { return feature_size_; }
  // Values per example of a VECTOR target; 0 for a CLASS_ID label.
  int64_t label_width() const { return label_width_; }
  // The spec with defaults filled in (what `data inspect` and logs print).
  const std::vector<config::FeatureSpec>& features() const { return features_; }
  const config::LabelSpec& label() const { return label_; }

  Status Decode(std::string_view record, float* features, int32_t* class_id,
                float* label_values) const;

 private:
  ExampleDecoder() = default;

  std::vector<config::FeatureSpec> features_;  // defaults resolved
  config::LabelSpec label_;
  int64_t num_classes_ = 0;
  int64_t feature_size_ = 0;
  int64_t label_width_ = 0;
};

}  // namespace shardtrain::data
