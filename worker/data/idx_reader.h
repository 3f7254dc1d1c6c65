// Readers for the idx files MNIST and Fashion-MNIST ship in
// (shared/spec/tfrecord-events-idx.md §4), gzip-compressed or plain.
//
// Contract: the header is big-endian uint32s — images: magic 0x00000803,
// count, rows, cols; labels: magic 0x00000801, count — followed by exactly the
// declared number of uint8 values. A file starting with the gzip magic (1f 8b)
// is decompressed (concatenated gzip members are one stream), any other is
// read as it is. Errors name the file: InvalidArgument for the wrong kind of
// file, NotFound for a missing one, DataLoss for damage — a file that ends
// early, bytes after the declared data (with their count), a damaged gzip
// stream, bytes after the gzip data (with their count), or a file named .gz
// that is not gzip-compressed. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace shardtrain::data {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxImages {
  int64_t count = 0;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, image-major, row-major
};

// Reads an images file (idx3: magic 0x803, count, rows, cols).
StatusOr<IdxImages> ReadIdxImages(const std::string& path);

// Reads a labels file (idx1: magic 0x801, count); one uint8 per example.
StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);

}  // namespace shardtrain::data
