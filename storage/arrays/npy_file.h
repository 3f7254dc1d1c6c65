// NumPy .npy files of 2-D-or-more float32 or uint8 arrays: the examples
// `shardtrain predict` reads and the outputs `evaluate`/`predict` write.
//
// Contract: ReadNpy accepts format versions 1.0-3.0, C order, descr '<f4'
// (float32) or '|u1'/'<u1' (uint8), and a shape of one or more dimensions (the
// first counts examples; a 1-D array is N examples of one value). Errors name
// the file:
//   NotFound         the file does not exist;
//   DataLoss         a failed read, no NumPy magic, a header that does not parse, or data
//                    shorter or longer than the shape needs (naming the first
//                    incomplete row);
//   InvalidArgument  another dtype, or Fortran order.
// WriteNpy writes a rows x cols float32 array (version 1.0, header padded to
// 64 bytes as NumPy does); PermissionDenied / DataLoss when it cannot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage {

struct NpyArray {
  enum class DType { kFloat32, kUint8 };
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<float> floats;   // the values when dtype is kFloat32
  std::vector<uint8_t> bytes;  // the values when dtype is kUint8

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  // Values per row: the product of the dimensions after the first.
  int64_t row_size() const;
  // "(10, 28, 28)", as NumPy prints a shape.
  std::string ShapeString() const;
};

StatusOr<NpyArray> ReadNpy(const std::string& path);

Status WriteNpy(const std::string& path, const std::vector<float>& values, int64_t rows,
                int64_t cols);

}  // namespace shardtrain::storage
