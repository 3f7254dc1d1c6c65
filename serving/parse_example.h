// ParseExample's dense half (TensorFlow's ParseExample op, Nsparse = 0): a
// batch of serialized tf.Example protos becomes one tensor per dense key,
// shaped [batch] + that key's dense shape, from the feature of that name
// (float_list for DT_FLOAT, int64_list for DT_INT64, bytes_list for
// DT_STRING) or, when absent, from the key's default (an empty default makes
// the feature required). This is what TF1 classify/regress signatures
// (half_plus_two's tf_example input) run on.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "serving/tensor.h"

namespace shardtrain::serving {

struct DenseFeatureSpec {
  std::string key;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // per example (the op's dense_shapes entry)
  Tensor default_value;        // no elements: the feature is required
};

// InvalidArgument naming the example index and the key for an unparsable
// proto, a missing required feature, a feature of another list type or a
// value count that is not the shape's element count.
StatusOr<std::vector<Tensor>> ParseDenseExamples(const std::vector<std::string>& serialized,
                                                 const std::vector<DenseFeatureSpec>& specs);

}  // namespace shardtrain::serving
