// The gzip (RFC 1952) and zlib (RFC 1950) streams around a compressed TFRecord
// file, on top of zlib, with bounded buffers: InflateStream decompresses a file
// (or bytes in memory) piece by piece, never the whole file at once, and
// DeflateStream compresses what a writer hands it. Used by storage/tfrecord
// (tfrecord.h is its API) and by the idx reader (worker/data/idx_reader.h).
//
// InflateStream's contract: Read returns decompressed bytes; 0 only at the
// clean end of the stream, after checking that nothing but (for GZIP) further
// gzip members follows it, which are read on as gzip(1) and TensorFlow do. A
// zero-byte input is an empty stream (no bytes), as TensorFlow reads it. Every
// defect is DataLoss with damage() saying which kind; the message describes
// the defect without naming the file, so the caller adds file and record.
// I/O errors are errno Statuses naming the file. Errors are sticky.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/tfrecord/compression.h"

struct z_stream_s;  // zlib's stream state (zlib.h)

namespace shardtrain::storage {

// What is wrong with a compressed stream whose Read failed with DataLoss.
enum class StreamDamage {
  kNone,
  kNotAStream,    // the input does not start with the gzip magic or a zlib header
  kCorrupt,       // zlib rejected the compressed data (or a checksum)
  kTruncated,     // the input ends before the stream does
  kTrailingData,  // bytes that are not a further gzip member follow the stream's end
};

class InflateStream {
 public:
  // Decompresses what `fd` holds from its current position, read
  // `input_buffer_size` bytes at a time (at least 64). `fd` is borrowed: the
  // caller closes it after destroying the stream. `name` appears in I/O errors.
  // `compression` is kGzip or kZlib.
  static std::unique_ptr<InflateStream> FromFile(int fd, std::string name,
                                                 TfRecordCompression compression,
                                                 size_t input_buffer_size);
  // Decompresses `contents`, a whole compressed file in memory.
  static std::unique_ptr<InflateStream> FromString(std::string contents,
                                                   TfRecordCompression compression);

  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
  ~InflateStream();

  // Writes up to `n` decompressed bytes to `out`; returns how many (0 only at
  // the end of the stream, or when `n` is 0). See the contract above.
  StatusOr<size_t> Read(char* out, size_t n);

  // Set when Read failed with DataLoss.
  StreamDamage damage() const { return damage_; }
  // The first compressed bytes (up to 16; empty before the first Read), for
  // guessing what a file that is not such a stream is (GuessTfRecordCompression).
  std::string_view head() const { return head_; }
  // Compressed bytes consumed so far.
  uint64_t compressed_offset() const;

 private:
  InflateStream(int fd, std::string name, TfRecordCompression compression, std::string input,
                bool input_complete);
  StatusOr<size_t> ReadSome(char* out, size_t n);
  // Checks the stream header and initialises zlib.
  Status Start();
  // Makes at least `k` unconsumed input bytes available unless the input
  // ends first; returns how many are available.
  StatusOr<size_t> EnsureInput(size_t k);
  // After zlib's Z_STREAM_END: the end of the input, or a further gzip member.
  Status EndOfMember();
  Status Fail(StreamDamage damage, std::string detail);
  std::string_view kind() const;  // "gzip" or "zlib"

  int fd_;  // -1 when decompressing memory
  std::string name_;
  TfRecordCompression compression_;
  std::string input_;         // compressed bytes; zlib's next_in points into it
  bool input_complete_;       // no more input to read from fd_
  uint64_t input_start_ = 0;  // compressed offset of input_[0]
  std::unique_ptr<z_stream_s> z_;
  bool started_ = false;
  bool zlib_initialised_ = false;
  bool finished_ = false;
  std::string head_;
  StreamDamage damage_ = StreamDamage::kNone;
  Status status_;  // sticky first error
};

class DeflateStream {
 public:
  enum class Flush {
    kNone,    // zlib may hold input back
    kSync,    // everything given so far can be decompressed from the output
    kFinish,  // ends the stream; later calls fail
  };
  // Starts a gzip or zlib stream (`compression` is kGzip or kZlib) with
  // TensorFlow's ZlibCompressionOptions: default level, 32 KiB window, memLevel 9.
  static StatusOr<std::unique_ptr<DeflateStream>> Create(TfRecordCompression compression);

  DeflateStream(const DeflateStream&) = delete;
  DeflateStream& operator=(const DeflateStream&) = delete;
  ~DeflateStream();

  // Compresses `input`, appending the compressed bytes to `*out`.
  Status Compress(std::string_view input, Flush flush, std::string* out);

 private:
  DeflateStream();
  std::unique_ptr<z_stream_s> z_;
  bool finished_ = false;
};

}  // namespace shardtrain::storage
