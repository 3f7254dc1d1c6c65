// InflateStream and DeflateStream on zlib (contract in compressed_stream.h).
#include "storage/tfrecord/compressed_stream.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <utility>

namespace shardtrain::storage {
namespace {

// Bytes of the input kept for head() and shown in messages.
constexpr size_t kHeadSize = 16;
// zlib counts in uInt; larger pieces are handed over in parts.
constexpr size_t kMaxZlibPiece = size_t{1} << 30;

// zlib's window bits: 15 (32 KiB window), +16 for a gzip header and trailer.
int WindowBits(TfRecordCompression compression) {
  return compression == TfRecordCompression::kGzip ? MAX_WBITS + 16 : MAX_WBITS;
}

std::string HexBytes(std::string_view bytes) {
  std::string text;
  for (size_t i = 0; i < bytes.size() && i < 8; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof(hex), "%s%02x", i == 0 ? "" : " ",
                  static_cast<unsigned>(static_cast<uint8_t>(bytes[i])));
    text += hex;
  }
  return text;
}

// True when `head` (at least 2 bytes) starts a stream of `compression`.
bool IsStreamHeader(std::string_view head, TfRecordCompression compression) {
  const uint8_t b0 = static_cast<uint8_t>(head[0]);
  const uint8_t b1 = static_cast<uint8_t>(head[1]);
  if (compression == TfRecordCompression::kGzip) return b0 == 0x1f && b1 == 0x8b;
  return (b0 & 0x0f) == Z_DEFLATED && (b0 >> 4) <= 7 && (b0 * 256 + b1) % 31 == 0;
}

// True when the single byte `b` can start a stream of `compression`.
bool CanStartStream(uint8_t b, TfRecordCompression compression) {
  return compression == TfRecordCompression::kGzip ? b == 0x1f : (b & 0x0f) == Z_DEFLATED;
}

}  // namespace

// ---------------------------------------------------------------------------
// InflateStream

InflateStream::InflateStream(int fd, std::string name, TfRecordCompression compression,
                             std::string input, bool input_complete)
    : fd_(fd),
      name_(std::move(name)),
      compression_(compression),
      input_(std::move(input)),
      input_complete_(input_complete),
      z_(new z_stream_s()) {
  z_->next_in = reinterpret_cast<Bytef*>(input_.data());
  z_->avail_in = input_complete ? static_cast<uInt>(std::min(input_.size(), kMaxZlibPiece)) : 0;
}

std::unique_ptr<InflateStream> InflateStream::FromFile(int fd, std::string name,
                                                       TfRecordCompression compression,
                                                       size_t input_buffer_size) {
  std::string buffer(std::max<size_t>(input_buffer_size, 64), '\0');
  return std::unique_ptr<InflateStream>(
      new InflateStream(fd, std::move(name), compression, std::move(buffer), false));
}

std::unique_ptr<InflateStream> InflateStream::FromString(std::string contents,
                                                         TfRecordCompression compression) {
  return std::unique_ptr<InflateStream>(
      new InflateStream(-1, "", compression, std::move(contents), true));
}

InflateStream::~InflateStream() {
  if (zlib_initialised_) inflateEnd(z_.get());
}

std::string_view InflateStream::kind() const {
  return compression_ == TfRecordCompression::kGzip ? "gzip" : "zlib";
}

uint64_t InflateStream::compressed_offset() const {
  return input_start_ + static_cast<uint64_t>(z_->next_in - reinterpret_cast<Bytef*>(
                                                                const_cast<char*>(input_.data())));
}

Status InflateStream::Fail(StreamDamage damage, std::string detail) {
  damage_ = damage;
  return DataLossError(std::move(detail));
}

StatusOr<size_t> InflateStream::EnsureInput(size_t k) {
  size_t available = z_->avail_in;
  const size_t consumed = static_cast<size_t>(compressed_offset() - input_start_);
  if (available >= k) return available;
  if (fd_ < 0) {
    // Memory: hand zlib the next piece, if any (pieces are at most kMaxZlibPiece).
    const size_t rest = input_.size() - consumed;
    z_->avail_in = static_cast<uInt>(std::min(rest, kMaxZlibPiece));
    return static_cast<size_t>(z_->avail_in);
  }
  if (input_complete_) return available;
  // Move the unconsumed bytes to the front and read behind them.
  std::memmove(input_.data(), input_.data() + consumed, available);
  input_start_ += consumed;
  while (available < k && !input_complete_) {
    const ssize_t n = ::read(fd_, input_.data() + available, input_.size() - available);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "read", name_);
    }
    if (n == 0) input_complete_ = true;
    available += static_cast<size_t>(n);
  }
  z_->next_in = reinterpret_cast<Bytef*>(input_.data());
  z_->avail_in = static_cast<uInt>(available);
  return available;
}

Status InflateStream::Start() {
  started_ = true;
  ASSIGN_OR_RETURN(const size_t available, EnsureInput(kHeadSize));
  head_.assign(reinterpret_cast<const char*>(z_->next_in), std::min(available, kHeadSize));
  if (available == 0) {
    finished_ = true;  // an empty file is an empty stream
    return OkStatus();
  }
  if (available == 1 && CanStartStream(static_cast<uint8_t>(head_[0]), compression_)) {
    return Fail(StreamDamage::kTruncated,
                "the " + std::string(kind()) + " stream ends after 1 compressed byte");
  }
  if (available == 1 || !IsStreamHeader(head_, compression_)) {
    return Fail(StreamDamage::kNotAStream, "is not a " + std::string(kind()) +
                                               " stream (it starts with " + HexBytes(head_) + ")");
  }
  if (inflateInit2(z_.get(), WindowBits(compression_)) != Z_OK) {
    return ResourceExhaustedError("cannot start zlib's inflate for '" + name_ + "'");
  }
  zlib_initialised_ = true;
  return OkStatus();
}

Status InflateStream::EndOfMember() {
  const bool gzip = compression_ == TfRecordCompression::kGzip;
  const uint64_t end = compressed_offset();
  ASSIGN_OR_RETURN(const size_t available, EnsureInput(gzip ? 2 : 1));
  if (available == 0) {
    finished_ = true;
    return OkStatus();
  }
  const std::string_view next(reinterpret_cast<const char*>(z_->next_in), available);
  if (gzip && available >= 2 && IsStreamHeader(next, compression_)) {
    inflateReset(z_.get());  // a further gzip member
    return OkStatus();
  }
  return Fail(StreamDamage::kTrailingData, "data follows the end of the " + std::string(kind()) +
                                               " stream at compressed byte " + std::to_string(end) +
                                               " (it starts with " +
                                               HexBytes(next.substr(0, kHeadSize)) + ")");
}

StatusOr<size_t> InflateStream::ReadSome(char* out, size_t n) {
  if (!started_) RETURN_IF_ERROR(Start());
  if (finished_ || n == 0) return size_t{0};
  const uInt want = static_cast<uInt>(std::min(n, kMaxZlibPiece));
  z_->next_out = reinterpret_cast<Bytef*>(out);
  z_->avail_out = want;
  // The loop ends once zlib has produced output: records reach the reader
  // before an error further on in the stream.
  while (z_->avail_out == want && !finished_) {
    ASSIGN_OR_RETURN(const size_t available, EnsureInput(1));
    const uint64_t at = compressed_offset();
    // With no input left zlib may still hold output: only no progress is truncation.
    const int rc = inflate(z_.get(), Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      RETURN_IF_ERROR(EndOfMember());
    } else if (rc == Z_BUF_ERROR && available == 0) {
      return Fail(StreamDamage::kTruncated, "the " + std::string(kind()) + " stream ends after " +
                                                std::to_string(at) +
                                                " compressed bytes, before its end");
    } else if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR) {
      return Fail(StreamDamage::kCorrupt,
                  "the " + std::string(kind()) + " stream is corrupt near compressed byte " +
                      std::to_string(at) + " (" +
                      (z_->msg != nullptr ? z_->msg : "needs a preset dictionary") + ")");
    } else if (rc == Z_MEM_ERROR) {
      return ResourceExhaustedError("zlib ran out of memory decompressing '" + name_ + "'");
    }
  }
  return static_cast<size_t>(want - z_->avail_out);
}

StatusOr<size_t> InflateStream::Read(char* out, size_t n) {
  if (!status_.ok()) return status_;
  z_->next_out = nullptr;  // set by ReadSome once zlib writes to `out`
  StatusOr<size_t> got = ReadSome(out, n);
  if (got.ok()) return got;
  status_ = got.status();
  // Bytes decompressed before the defect are returned first; the error comes next.
  const size_t produced = z_->next_out == nullptr
                              ? 0
                              : static_cast<size_t>(reinterpret_cast<char*>(z_->next_out) - out);
  if (produced > 0 && produced <= n) return produced;
  return status_;
}

// ---------------------------------------------------------------------------
// DeflateStream

DeflateStream::DeflateStream() : z_(new z_stream_s()) {}

DeflateStream::~DeflateStream() { deflateEnd(z_.get()); }

StatusOr<std::unique_ptr<DeflateStream>> DeflateStream::Create(TfRecordCompression compression) {
  std::unique_ptr<DeflateStream> stream(new DeflateStream());
  const int rc = deflateInit2(stream->z_.get(), Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                              WindowBits(compression), /*memLevel=*/9, Z_DEFAULT_STRATEGY);
  if (rc != Z_OK) {
    stream->finished_ = true;
    return ResourceExhaustedError("cannot start zlib's deflate (zlib error " + std::to_string(rc) +
                                  ")");
  }
  return stream;
}

Status DeflateStream::Compress(std::string_view input, Flush flush, std::string* out) {
  if (finished_) return FailedPreconditionError("compress after the end of the stream");
  const int mode = flush == Flush::kFinish ? Z_FINISH
                   : flush == Flush::kSync ? Z_SYNC_FLUSH
                                           : Z_NO_FLUSH;
  out->reserve(out->size() + deflateBound(z_.get(), std::min(input.size(), kMaxZlibPiece)));
  while (true) {
    const size_t piece = std::min(input.size(), kMaxZlibPiece);
    const bool last_piece = piece == input.size();
    z_->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    z_->avail_in = static_cast<uInt>(piece);
    int rc = Z_OK;
    do {  // until zlib leaves output space unused: it has emitted all it will
      const size_t old_size = out->size();
      const size_t room = std::max<size_t>(piece / 2, size_t{1} << 16);
      out->resize(old_size + room);
      z_->next_out = reinterpret_cast<Bytef*>(out->data() + old_size);
      z_->avail_out = static_cast<uInt>(room);
      rc = deflate(z_.get(), last_piece ? mode : Z_NO_FLUSH);
      out->resize(old_size + room - z_->avail_out);
      if (rc == Z_STREAM_ERROR) return InternalError("zlib's deflate failed");
    } while (z_->avail_out == 0 || (last_piece && mode == Z_FINISH && rc != Z_STREAM_END));
    input.remove_prefix(piece);
    if (last_piece) break;
  }
  if (flush == Flush::kFinish) finished_ = true;
  return OkStatus();
}

}  // namespace shardtrain::storage
