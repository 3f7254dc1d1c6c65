// How a TFRecord file is compressed, as TensorFlow's TFRecordOptions
// compression_type: NONE (""), GZIP (the whole file is one gzip stream, RFC
// 1952) or ZLIB (one zlib stream, RFC 1950); inside the stream the usual
// TFRecord framing (tfrecord_format.h). The job config names it as
// data.compression (config::Compression); TfRecordCompressionFromConfig maps it.
#pragma once

#include <optional>
#include <string_view>

#include "common/status.h"
#include "proto/config.pb.h"

namespace shardtrain::storage {

enum class TfRecordCompression { kNone, kGzip, kZlib };

// "NONE", "GZIP" or "ZLIB": the config's spelling.
std::string_view TfRecordCompressionName(TfRecordCompression compression);

// The storage value of the config's data.compression; InvalidArgument for a
// value this build does not know.
StatusOr<TfRecordCompression> TfRecordCompressionFromConfig(config::Compression compression);

// What the first bytes of a file (16 are plenty) look like: NONE (a TFRecord
// header whose length CRC matches), GZIP (the gzip magic 1f 8b and method 08),
// ZLIB (zlib starts decompressing them without an error), or nothing
// recognisable. Used to hint at the right setting when a file does not parse
// as the one configured.
std::optional<TfRecordCompression> GuessTfRecordCompression(std::string_view head);

}  // namespace shardtrain::storage
