// The job's feature spec (config::DataConfig features and label) with its
// defaults resolved and checked, ready for ExampleDecoder.
//
// Contract: ResolveFeatureSpec fills in the defaults — no `features`: `image`
// BYTES_UINT8 of shape `input_shape` with scale 1/255 (the schema `shardtrain
// data prepare` writes); an unset `scale`: 1; no `label`: `label` CLASS_ID; a
// label without a key: key `label` — and validates the result: keys non-empty
// and distinct, every type one of the enum's values, dimensions positive with
// a product that fits int64 (an empty shape is one value, as
// tf.io.FixedLenFeature([]); images need [height, width, channels] with
// channels 1, 3 or 4), scale/offset finite, the features' sizes summing to the
// product of `input_shape`, a VECTOR label with size > 0, a CLASS_ID label
// with no size and data.num_classes > 0. InvalidArgument names the field
// ("data.features[1].shape: ..."). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::data {

struct ResolvedFeatureSpec {
  std::vector<config::FeatureSpec> features;  // defaults filled in
  config::LabelSpec label;                    // defaults filled in
  int64_t feature_size = 0;                   // sum of the features' value counts
  int64_t label_width = 0;                    // VECTOR: label.size(); CLASS_ID: 0
};

// `input_shape` is model.input_shape (one example, without the batch dimension).
StatusOr<ResolvedFeatureSpec> ResolveFeatureSpec(const config::DataConfig& data,
                                                 const std::vector<int64_t>& input_shape);

// `shape` as text, "[28, 28, 1]".
std::string ShapeText(const google::protobuf::RepeatedField<int64_t>& shape);

// The product of `shape`'s dimensions (1 for an empty shape); InvalidArgument
// naming `field` for a dimension below 1 or a product past int64.
StatusOr<int64_t> ShapeProduct(const google::protobuf::RepeatedField<int64_t>& shape,
                               const std::string& field);

// The values a feature of a validated spec contributes: the product of its shape.
int64_t FeatureValueCount(const config::FeatureSpec& feature);

// True for BYTES_PNG and BYTES_JPEG.
bool IsImageFeature(const config::FeatureSpec& feature);

}  // namespace shardtrain::data
