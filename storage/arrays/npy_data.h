// The typed contents of a NumPy .npy file (from disk or from an .npz member):
// what `shardtrain data prepare` converts into TFRecord shards.
//
// Contract: ParseNpy accepts format versions 1.0-3.0, C order, a shape of one
// or more dimensions (the first counts examples) and the little-endian dtypes
// bool ('|b1'), uint8 ('|u1'), int8 ('|i1'), int32 ('<i4'), int64 ('<i8'),
// float32 ('<f4') and float64 ('<f8'). The data bytes are kept as stored.
// Errors name `name` (the file, or "archive.npz:member"):
//   DataLoss         no NumPy magic, a header that does not parse, a shape
//                    whose rows exceed 2^63 bytes (even with 0 rows), or data
//                    shorter or longer than the shape needs (naming the first
//                    incomplete row);
//   InvalidArgument  a 0-d array, Fortran order, or another dtype (big-endian
//                    included), naming the dtype as the header spells it.
// ReadNpyData reads `path` and parses it (NotFound when it cannot be opened,
// DataLoss when the read fails).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage {

struct NpyData {
  enum class DType { kBool, kUint8, kInt8, kInt32, kInt64, kFloat32, kFloat64 };
  DType dtype = DType::kFloat32;
  std::string descr;  // as the header spells it, e.g. "<f8"
  std::vector<int64_t> shape;
  std::string data;  // rows() * row_size() values, little-endian, C order

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  // Values per row: the product of the dimensions after the first.
  int64_t row_size() const;
  // Bytes per value.
  size_t item_size() const;
  // True for bool and the integer dtypes.
  bool is_integer() const;
  // "float64", "uint8", ... (NumPy's dtype names).
  std::string dtype_name() const;
  // Value `index` (0-based over all values, row-major) as a double; exact for
  // every dtype except int64 beyond 2^53.
  double ValueAsDouble(int64_t index) const;
  // Value `index` of an integer dtype as an int64.
  int64_t ValueAsInt64(int64_t index) const;
};

// The product of the dimensions after the first (1 for a 1-D shape).
int64_t NpyRowSize(const std::vector<int64_t>& shape);
// "(10, 28, 28)" (and "(3,)"), as NumPy prints a shape.
std::string NpyShapeString(const std::vector<int64_t>& shape);

StatusOr<NpyData> ParseNpy(const std::string& name, std::string bytes);
// The same, accepting only the `accepted` dtypes; another one is
// InvalidArgument "NAME: dtype '<f8' is not supported; " + advice.
StatusOr<NpyData> ParseNpy(const std::string& name, std::string bytes,
                           const std::vector<NpyData::DType>& accepted, const std::string& advice);
StatusOr<NpyData> ReadNpyData(const std::string& path);
// The same, accepting only the `accepted` dtypes (see ParseNpy above).
StatusOr<NpyData> ReadNpyData(const std::string& path, const std::vector<NpyData::DType>& accepted,
                              const std::string& advice);

}  // namespace shardtrain::storage
