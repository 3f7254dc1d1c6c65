// Byte layout of a TFRecord file (shared/spec/tfrecord-events-idx.md §1).
//
// A file is a sequence of records with nothing before, between or after them.
// Each record is
//
//   offset      size     content
//   0           8        length: uint64 little-endian, the number of data bytes
//   8           4        uint32 LE: Crc32cMask(crc32c(the 8 length bytes))
//   12          length   data (for datasets: a serialized tf.train.Example)
//   12+length   4        uint32 LE: Crc32cMask(crc32c(data))
//
// so a record occupies length + 16 bytes. Example: the 3-byte record "abc" is
//   03 00 00 00 00 00 00 00 | b0 99 49 0e | 61 62 63 | 6e 57 f1 21
// A compressed file (TensorFlow's TFRecordOptions GZIP / ZLIB) is this same
// byte sequence inside one gzip (RFC 1952) or zlib (RFC 1950) stream around the
// whole file (compression.h, compressed_stream.h).
#pragma once

#include <cstddef>

namespace shardtrain::storage::tfrecord_format {

inline constexpr size_t kLengthSize = 8;
inline constexpr size_t kLengthCrcSize = 4;
inline constexpr size_t kHeaderSize = kLengthSize + kLengthCrcSize;  // 12
inline constexpr size_t kDataCrcSize = 4;
inline constexpr size_t kFooterSize = kDataCrcSize;                   // 4
inline constexpr size_t kRecordOverhead = kHeaderSize + kFooterSize;  // 16

}  // namespace shardtrain::storage::tfrecord_format
