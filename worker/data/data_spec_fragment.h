// The job-config fragment `shardtrain data prepare` writes beside the shards
// it made from a user's arrays (DIR/data_spec.textproto): a `data { ... }`
// block naming the shards, the feature spec of `x` and the label spec of `y`,
// preceded by comment lines saying which model.input_shape, last layer and
// loss go with it. The user pastes it into a job config.
//
// Contract: DataSpecFragment is deterministic (same layout, same text) and
// parses, as text format, into a config::JobConfig whose `data` equals
// ArrayDataConfig(layout). With validation shards the block names `dir`
// (whose train-* and test-* shards the loader reads); without, it names
// train_files (the train shards of this run: the job then trains without
// validation, or on training.validation_split). num_classes is the largest
// class id + 1 for CLASS_ID labels and unset for VECTOR labels (whose width is
// label.size; the job config requires num_classes only for class ids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/config.pb.h"

namespace shardtrain::data {

struct ArrayDataLayout {
  std::string dir;  // absolute path of the shards' directory
  int train_shards = 0;
  int validation_shards = 0;  // 0: no validation data
  std::vector<int64_t> feature_shape;
  bool raw_uint8 = false;      // BYTES_UINT8 rather than FLOAT_LIST
  std::optional<float> scale;  // the feature's scale, when set
  bool class_ids = false;      // CLASS_ID rather than VECTOR
  int64_t label_width = 1;
  int64_t num_classes = 0;  // CLASS_ID: max id + 1 (unused for VECTOR)
  std::string source;       // "x.npy and y.npy", for the first comment line
};

config::DataConfig ArrayDataConfig(const ArrayDataLayout& layout);
std::string DataSpecFragment(const ArrayDataLayout& layout);

}  // namespace shardtrain::data
