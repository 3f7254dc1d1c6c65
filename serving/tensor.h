// Tensor: the value type of the serving runtime (graph_executor.h) and of the
// REST layer. One dense, row-major array of a TensorFlow dtype: float32 in
// `f`, float64 in `d`, int32/int64/bool in `i` (bool as 0/1), strings (and
// resource handles) in `s`. Plain value type; copying copies the data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "proto/tf/graph.pb.h"

namespace shardtrain::serving {

struct Tensor {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // empty: a scalar
  std::vector<float> f;
  std::vector<double> d;
  std::vector<int64_t> i;
  std::vector<std::string> s;

  static Tensor Floats(std::vector<int64_t> shape);  // zero-filled float32
  static Tensor Scalar(float value);
  static Tensor String(std::string value);
  int64_t num_elements() const;
  // ShapeText(shape): "[2, 3]".
  std::string ShapeString() const;
  // Elements stored (the vector of this dtype).
  size_t stored() const;
};

// "[2, 3]" for a shape, "[]" for a scalar.
std::string ShapeText(const std::vector<int64_t>& shape);

// The element count of `shape` (1 for a scalar).
int64_t NumElements(const std::vector<int64_t>& shape);

// A TensorProto (Const values, AttrValue.tensor): tensor_content or typed
// fields, the last typed value repeated to fill (spec §4.6).
StatusOr<Tensor> TensorFromProto(const tf::TensorProto& proto);

}  // namespace shardtrain::serving
