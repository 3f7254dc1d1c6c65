// Tensor bundle (TensorFlow "V2 checkpoint") constants and file naming.
// Spec: shared/spec/tf-formats.md §1.1–1.5; summary in docs/FORMATS.md.
//
//   PREFIX.index                   a table (storage/io/table.h): "" → BundleHeaderProto,
//                                  tensor name → BundleEntryProto, sorted bytewise
//   PREFIX.data-SSSSS-of-NNNNN     raw tensor bytes, one file per shard, tensors packed
//                                  back to back in the order they were added
//
// POD tensor bytes: the row-major element array, little-endian; entry.crc32c =
// masked CRC-32C of exactly those `size` bytes.
// DT_STRING tensor bytes: varint64 len[i] for every element ‖ fixed32 LE
// masked CRC-32C of the lengths (each fed as uint32 LE, or uint64 LE when
// >= 2^32) ‖ the string bytes concatenated; entry.crc32c = masked CRC-32C of
// (lengths as fed above ‖ the 4 stored checksum bytes ‖ string bytes).
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace shardtrain::storage {

// Key of the header entry (sorts first).
inline constexpr std::string_view kBundleHeaderKey = "";
// VersionDef written into the header (TF writes producer 1, min_consumer 0);
// a reader accepts min_consumer <= kBundleVersionConsumer.
inline constexpr int32_t kBundleVersionProducer = 1;
inline constexpr int32_t kBundleVersionMinConsumer = 0;
inline constexpr int32_t kBundleVersionConsumer = 1;
// TF's DataType value for strings.
inline constexpr int kBundleDtString = 7;

// "PREFIX.data-%05d-of-%05d".
inline std::string DataFilename(std::string_view prefix, int32_t shard, int32_t num_shards) {
  char suffix[64];
  std::snprintf(suffix, sizeof(suffix), ".data-%05d-of-%05d", static_cast<int>(shard),
                static_cast<int>(num_shards));
  return std::string(prefix) + suffix;
}

// "PREFIX.index".
inline std::string IndexFilename(std::string_view prefix) {
  return std::string(prefix) + ".index";
}

// Bytes per element of a TensorFlow DataType value (spec §1.8), 0 for
// variable-size (string, variant), resource and unknown types.
constexpr size_t TfDTypeSize(int dtype) {
  switch (dtype) {
    case 1: return 4;    // float
    case 2: return 8;    // double
    case 3: return 4;    // int32
    case 4: return 1;    // uint8
    case 5: return 2;    // int16
    case 6: return 1;    // int8
    case 8: return 8;    // complex64
    case 9: return 8;    // int64
    case 10: return 1;   // bool
    case 11: return 1;   // qint8
    case 12: return 1;   // quint8
    case 13: return 4;   // qint32
    case 14: return 2;   // bfloat16
    case 15: return 2;   // qint16
    case 16: return 2;   // quint16
    case 17: return 2;   // uint16
    case 18: return 16;  // complex128
    case 19: return 2;   // half
    case 22: return 4;   // uint32
    case 23: return 8;   // uint64
    case 24: return 1;   // float8_e5m2
    case 25: return 1;   // float8_e4m3fn
    default: return 0;
  }
}

// TensorFlow's name of a DataType value ("float32", "int64", "string", ...);
// "dtype(N)" for values we do not know.
inline std::string TfDTypeName(int dtype) {
  switch (dtype) {
    case 1: return "float32";
    case 2: return "float64";
    case 3: return "int32";
    case 4: return "uint8";
    case 5: return "int16";
    case 6: return "int8";
    case 7: return "string";
    case 8: return "complex64";
    case 9: return "int64";
    case 10: return "bool";
    case 11: return "qint8";
    case 12: return "quint8";
    case 13: return "qint32";
    case 14: return "bfloat16";
    case 15: return "qint16";
    case 16: return "quint16";
    case 17: return "uint16";
    case 18: return "complex128";
    case 19: return "float16";
    case 20: return "resource";
    case 21: return "variant";
    case 22: return "uint32";
    case 23: return "uint64";
    case 24: return "float8_e5m2";
    case 25: return "float8_e4m3fn";
    default: return "dtype(" + std::to_string(dtype) + ")";
  }
}

}  // namespace shardtrain::storage
