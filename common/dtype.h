// Element types. The numeric values are TensorFlow's DataType enum
// (types.proto), so a DType can be written into checkpoint and SavedModel
// headers unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace shardtrain {

enum class DType : int32_t {
  kInvalid = 0,
  kFloat32 = 1,
  kFloat64 = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt16 = 5,
  kInt8 = 6,
  kString = 7,
  kInt64 = 9,
  kBool = 10,
  kUInt16 = 17,
  kFloat16 = 19,
  kUInt32 = 22,
  kUInt64 = 23,
};

// Bytes per element; 0 for kString and kInvalid (not fixed-size).
constexpr size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kInt32: return 4;
    case DType::kUInt8: return 1;
    case DType::kInt16: return 2;
    case DType::kInt8: return 1;
    case DType::kInt64: return 8;
    case DType::kBool: return 1;
    case DType::kUInt16: return 2;
    case DType::kFloat16: return 2;
    case DType::kUInt32: return 4;
    case DType::kUInt64: return 8;
    case DType::kString:
    case DType::kInvalid: return 0;
  }
  return 0;
}

// Lower-case name as TensorFlow prints it ("float32", "int64", ...).
std::string_view DTypeName(DType dtype);

template <typename T>
constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<float>() { return DType::kFloat32; }
template <> constexpr DType DTypeOf<double>() { return DType::kFloat64; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kInt32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kInt64; }
template <> constexpr DType DTypeOf<uint8_t>() { return DType::kUInt8; }

}  // namespace shardtrain
