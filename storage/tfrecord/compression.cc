// TfRecordCompression names, the config mapping and the guess from a file's
// first bytes (contract in compression.h).
#include "storage/tfrecord/compression.h"

#include <zlib.h>

#include <cstdint>
#include <string>

#include "storage/io/crc32c.h"
#include "storage/tfrecord/tfrecord_format.h"

namespace shardtrain::storage {

std::string_view TfRecordCompressionName(TfRecordCompression compression) {
  switch (compression) {
    case TfRecordCompression::kNone:
      return "NONE";
    case TfRecordCompression::kGzip:
      return "GZIP";
    case TfRecordCompression::kZlib:
      return "ZLIB";
  }
  return "NONE";
}

StatusOr<TfRecordCompression> TfRecordCompressionFromConfig(config::Compression compression) {
  switch (compression) {
    case config::NONE:
      return TfRecordCompression::kNone;
    case config::GZIP:
      return TfRecordCompression::kGzip;
    case config::ZLIB:
      return TfRecordCompression::kZlib;
    default:
      break;
  }
  return InvalidArgumentError("unknown data.compression value " +
                              std::to_string(static_cast<int>(compression)) +
                              " (NONE, GZIP or ZLIB)");
}

namespace {

// True when `head` starts a TFRecord: its length CRC matches (1 in 2^32 by chance).
bool StartsTfRecord(std::string_view head) {
  namespace fmt = tfrecord_format;
  if (head.size() < fmt::kHeaderSize) return false;
  uint32_t stored = 0;
  for (int i = 3; i >= 0; --i) {
    stored = (stored << 8) | static_cast<uint8_t>(head[fmt::kLengthSize + i]);
  }
  return stored == Crc32cMask(Crc32c(head.data(), fmt::kLengthSize));
}

// True when zlib decompresses `head` as the start of a zlib stream without an
// error (its 2-byte header alone passes by chance 1 time in ~500).
bool StartsZlibStream(std::string_view head) {
  if (head.size() < 2) return false;
  std::string out(256, '\0');
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(head.data()));
  z.avail_in = static_cast<uInt>(head.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_NO_FLUSH);
  inflateEnd(&z);
  return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR;
}

}  // namespace

std::optional<TfRecordCompression> GuessTfRecordCompression(std::string_view head) {
  if (StartsTfRecord(head)) return TfRecordCompression::kNone;
  // RFC 1952: ID1 ID2 = 1f 8b, then CM = 8 (deflate).
  if (head.size() >= 2 && head.substr(0, 2) == "\x1f\x8b" &&
      (head.size() < 3 || head[2] == '\x08')) {
    return TfRecordCompression::kGzip;
  }
  if (StartsZlibStream(head)) return TfRecordCompression::kZlib;
  return std::nullopt;
}

}  // namespace shardtrain::storage
