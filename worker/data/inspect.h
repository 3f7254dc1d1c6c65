// `shardtrain data inspect FILE`: what a TFRecord file of tf.train.Example
// holds, so a user can write the job's feature spec (data.features, label).
//
// Contract: InspectTfRecordFile writes to `out`
//   FILE: compression NONE            (or "GZIP (detected: gzip magic 1f 8b)"...)
//   record 0: 2 features
//     x: float_list, 784 values
//     y: int64_list, 1 value [7]       (int64/float lists of <= 4 values show them)
//     image: bytes_list, 1 value (3120 bytes, PNG image)
// for the first `records` records (feature keys sorted; bytes values: each
// value's length when there is one value, the total otherwise, and PNG/JPEG
// when the first value starts with that format's magic), then, with `count`,
// "records: N" after reading the whole file. Without an explicit compression
// it is guessed from the file's first bytes (GZIP, ZLIB, else NONE) and the
// line says so. Errors name the file and record: NotFound / I/O errors
// opening it, InvalidArgument when it is not a regular file (a FIFO is
// refused before any read, so inspect never blocks on one), DataLoss for a damaged record or
// stream, or a record that is not a tf.train.Example.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "common/status.h"
#include "storage/tfrecord/compression.h"

namespace shardtrain::data {

struct InspectOptions {
  int64_t records = 1;                                      // records to describe
  bool count = false;                                       // also count every record
  std::optional<storage::TfRecordCompression> compression;  // nullopt: guess
};

Status InspectTfRecordFile(const std::string& path, const InspectOptions& options,
                           std::ostream* out);

}  // namespace shardtrain::data
