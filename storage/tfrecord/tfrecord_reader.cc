// TfRecordReader and ReadTfRecordFile (contract in tfrecord.h, byte layout in
// tfrecord_format.h); compressed files are read through InflateStream.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "storage/io/crc32c.h"
#include "storage/io/file_system.h"
#include "storage/tfrecord/compressed_stream.h"
#include "storage/tfrecord/tfrecord.h"
#include "storage/tfrecord/tfrecord_format.h"

namespace shardtrain::storage {
namespace {

namespace fmt = tfrecord_format;

// The smallest read buffer, so that a record header always fits.
constexpr size_t kMinBufferSize = 64;

uint32_t GetLittleEndian32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetLittleEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t MaskedCrc(const char* data, size_t n) { return Crc32cMask(Crc32c(data, n)); }

std::string Hex32(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08" PRIx32, v);
  return text;
}

// "; it looks gzip-compressed: set data.compression: GZIP", or "" when `head`
// does not look like a file of another compression than `configured`.
std::string CompressionHint(std::string_view head, TfRecordCompression configured,
                            const std::string& setting) {
  const std::optional<TfRecordCompression> guess = GuessTfRecordCompression(head);
  if (!guess.has_value() || *guess == configured) return "";
  const char* looks = *guess == TfRecordCompression::kGzip   ? "gzip-compressed"
                      : *guess == TfRecordCompression::kZlib ? "zlib-compressed"
                                                             : "uncompressed";
  return std::string("; it looks ") + looks + ": set " + setting + ": " +
         std::string(TfRecordCompressionName(*guess));
}

}  // namespace

TfRecordReader::TfRecordReader(int fd, std::string path, TfRecordReaderOptions options)
    : fd_(fd), path_(std::move(path)), options_(std::move(options)) {
  options_.buffer_size = std::max(options_.buffer_size, kMinBufferSize);
}

TfRecordReader::~TfRecordReader() {
  inflate_.reset();  // it borrows fd_
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<TfRecordReader>> TfRecordReader::Open(const std::string& path,
                                                               TfRecordReaderOptions options) {
  uint64_t size = 0;
  int fd = -1;
  ASSIGN_OR_RETURN(fd, OpenRegularFileForReading(path, &size));
  std::unique_ptr<TfRecordReader> reader(new TfRecordReader(fd, path, std::move(options)));
  size_t capacity = reader->options_.buffer_size;
  if (reader->options_.compression == TfRecordCompression::kNone) {
    reader->file_size_ = static_cast<int64_t>(size);
    // +1 so that one read() both fills the buffer and sees the end of file.
    capacity = std::min<uint64_t>(capacity, size + 1);
  } else {
    reader->inflate_ =
        InflateStream::FromFile(fd, path, reader->options_.compression,
                                static_cast<size_t>(std::min<uint64_t>(capacity, size + 1)));
  }
  reader->buffer_.resize(std::max(capacity, kMinBufferSize));
  return reader;
}

std::unique_ptr<TfRecordReader> TfRecordReader::FromString(std::string contents, std::string name,
                                                           TfRecordReaderOptions options) {
  std::unique_ptr<TfRecordReader> reader(
      new TfRecordReader(-1, std::move(name), std::move(options)));
  if (reader->options_.compression != TfRecordCompression::kNone) {
    reader->inflate_ = InflateStream::FromString(std::move(contents), reader->options_.compression);
    reader->buffer_.resize(reader->options_.buffer_size);
    return reader;
  }
  reader->end_ = contents.size();
  reader->file_size_ = static_cast<int64_t>(contents.size());
  reader->buffer_ = std::move(contents);
  reader->eof_ = true;
  return reader;
}

void TfRecordReader::MakeRoom(size_t need) {
  if (end_ < buffer_.size()) return;
  const size_t available = end_ - begin_;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, available);
    begin_ = 0;
    end_ = available;
  }
  if (end_ == buffer_.size()) buffer_.resize(std::min(need, 2 * buffer_.size()));
}

StatusOr<size_t> TfRecordReader::ReadSome(char* out, size_t n) {
  if (inflate_ != nullptr) {
    StatusOr<size_t> got = inflate_->Read(out, n);
    if (!got.ok()) return StreamError(got.status());
    return got;
  }
  while (true) {
    const ssize_t got = ::read(fd_, out, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return ErrnoToStatus(errno, "read", path_);
  }
}

StatusOr<size_t> TfRecordReader::Fill(size_t need) {
  while (end_ - begin_ < need && !eof_) {
    MakeRoom(need);
    ASSIGN_OR_RETURN(const size_t got, ReadSome(buffer_.data() + end_, buffer_.size() - end_));
    if (got == 0) eof_ = true;
    end_ += got;
  }
  return end_ - begin_;
}

Status TfRecordReader::StreamError(const Status& status) const {
  const std::string& detail = status.message();
  switch (inflate_->damage()) {
    case StreamDamage::kNone:
      return status;  // an I/O error, already naming the file
    case StreamDamage::kNotAStream:
      return DataLossError(
          "'" + path_ + "' " + detail + "; is " + options_.compression_setting + " right?" +
          CompressionHint(inflate_->head(), options_.compression, options_.compression_setting));
    case StreamDamage::kCorrupt:
      return Corrupted(detail);
    case StreamDamage::kTruncated:
      return Truncated(detail);
    case StreamDamage::kTrailingData:
      return DataLossError("'" + path_ + "' has trailing data after its " +
                           std::to_string(records_read_) + " records: " + detail + "; " +
                           options_.damage_hint);
  }
  return status;
}

Status TfRecordReader::FirstHeaderError(std::string_view header, std::string_view what) const {
  const std::string hint =
      CompressionHint(header, TfRecordCompression::kNone, options_.compression_setting);
  if (hint.empty()) return Corrupted(what);
  return DataLossError("'" + path_ + "' is not an uncompressed TFRecord file (" +
                       std::string(what) + ")" + hint);
}

Status TfRecordReader::Corrupted(std::string_view what) const {
  return DataLossError("corrupted record " + std::to_string(records_read_) + " at byte offset " +
                       std::to_string(offset_) + " in '" + path_ + "': " + std::string(what) +
                       "; " + options_.damage_hint);
}

Status TfRecordReader::Truncated(std::string_view what) const {
  return DataLossError("truncated record " + std::to_string(records_read_) + " at byte offset " +
                       std::to_string(offset_) + " in '" + path_ + "': " + std::string(what) +
                       "; the file is truncated (maybe a writer crashed while writing it); " +
                       options_.damage_hint);
}

StatusOr<std::optional<uint64_t>> TfRecordReader::ReadHeader() {
  ASSIGN_OR_RETURN(const size_t available, Fill(fmt::kHeaderSize));
  if (available == 0) return std::optional<uint64_t>();  // clean end of file
  if (available < fmt::kHeaderSize) {
    return Truncated("the file ends " + std::to_string(available) + " bytes into the " +
                     std::to_string(fmt::kHeaderSize) + "-byte record header");
  }
  const char* header = buffer_.data() + begin_;
  const uint64_t length = GetLittleEndian64(header);
  const uint32_t stored_length_crc = GetLittleEndian32(header + fmt::kLengthSize);
  const uint32_t length_crc = MaskedCrc(header, fmt::kLengthSize);
  if (stored_length_crc != length_crc) {
    const std::string what = "length CRC mismatch (stored " + Hex32(stored_length_crc) +
                             ", computed " + Hex32(length_crc) + ")";
    if (offset_ == 0 && inflate_ == nullptr) {
      return FirstHeaderError(std::string_view(header, fmt::kHeaderSize), what);
    }
    return Corrupted(what);
  }
  // The length passed its CRC; if it runs past the end of the file, the file
  // was cut short. Check before allocating for it.
  const uint64_t remaining =
      file_size_ >= 0 ? static_cast<uint64_t>(file_size_) - std::min<uint64_t>(offset_, file_size_)
                      : UINT64_MAX;
  if (length > remaining - std::min<uint64_t>(remaining, fmt::kRecordOverhead) ||
      length > (SIZE_MAX >> 2)) {
    if (file_size_ >= 0) {
      return Truncated("the record declares " + std::to_string(length) + " data bytes but only " +
                       std::to_string(remaining) +
                       " bytes (with its 16 framing bytes) remain in the file");
    }
    return Corrupted("record length " + std::to_string(length) + " is implausibly large");
  }
  if (length > options_.max_record_bytes) {
    return Corrupted("record length " + std::to_string(length) +
                     " exceeds the maximum record size of " +
                     std::to_string(options_.max_record_bytes) + " bytes");
  }
  return std::optional<uint64_t>(length);
}

StatusOr<bool> TfRecordReader::NextView(std::string_view* record) {
  if (!status_.ok()) return status_;
  auto fail = [this](Status status) -> StatusOr<bool> {
    status_ = std::move(status);
    return status_;
  };

  StatusOr<std::optional<uint64_t>> header = ReadHeader();
  if (!header.ok()) return fail(header.status());
  if (!header->has_value()) return false;
  const uint64_t length = **header;
  const size_t total = static_cast<size_t>(length) + fmt::kRecordOverhead;
  StatusOr<size_t> available = Fill(total);
  if (!available.ok()) return fail(available.status());
  if (*available < total) {
    return fail(Truncated("the record needs " + std::to_string(total) +
                          " bytes but the file ends after " + std::to_string(*available)));
  }
  const char* data = buffer_.data() + begin_ + fmt::kHeaderSize;
  const uint32_t stored_data_crc = GetLittleEndian32(data + length);
  const uint32_t data_crc = MaskedCrc(data, static_cast<size_t>(length));
  if (stored_data_crc != data_crc) {
    return fail(Corrupted("data CRC mismatch (stored " + Hex32(stored_data_crc) + ", computed " +
                          Hex32(data_crc) + ")"));
  }
  *record = std::string_view(data, static_cast<size_t>(length));
  begin_ += total;
  offset_ += total;
  ++records_read_;
  return true;
}

Status TfRecordReader::Discard(uint64_t n) {
  const uint64_t total = n;
  while (n > 0) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (inflate_ == nullptr && fd_ >= 0) {
        // Bytes past the buffer: seek over them (the header check ensured the
        // file holds them).
        if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
          return ErrnoToStatus(errno, "lseek", path_);
        }
        return OkStatus();
      }
      ASSIGN_OR_RETURN(const size_t available, Fill(1));
      if (available == 0) {
        return Truncated("the record needs " + std::to_string(total) +
                         " bytes but the file ends after " + std::to_string(total - n));
      }
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, end_ - begin_));
    begin_ += take;
    n -= take;
  }
  return OkStatus();
}

StatusOr<bool> TfRecordReader::Skip() {
  if (!status_.ok()) return status_;
  StatusOr<std::optional<uint64_t>> header = ReadHeader();
  if (header.ok() && !header->has_value()) return false;
  const uint64_t total = header.ok() ? **header + fmt::kRecordOverhead : 0;
  Status status = header.ok() ? Discard(total) : header.status();
  if (!status.ok()) {
    status_ = std::move(status);
    return status_;
  }
  offset_ += total;
  ++records_read_;
  return true;
}

Status TfRecordReader::Seek(uint64_t offset, int64_t record_index) {
  if (!status_.ok()) return status_;
  if (inflate_ != nullptr) {
    return FailedPreconditionError(
        "cannot seek in '" + path_ + "': it is read as " +
        std::string(TfRecordCompressionName(options_.compression)) +
        "-compressed, and a compressed file can only be read from its start");
  }
  if (record_index < 0 || offset > static_cast<uint64_t>(file_size_)) {
    return InvalidArgumentError("cannot seek to record " + std::to_string(record_index) +
                                " at byte offset " + std::to_string(offset) + " in '" + path_ +
                                "' of " + std::to_string(file_size_) + " bytes");
  }
  // buffer_[0, end_) holds the file's bytes from buffer_start on.
  const uint64_t buffer_start = offset_ - begin_;
  if (offset >= buffer_start && offset <= buffer_start + end_) {
    begin_ = static_cast<size_t>(offset - buffer_start);
  } else {
    if (::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
      return ErrnoToStatus(errno, "lseek", path_);
    }
    begin_ = end_ = 0;
    eof_ = false;
  }
  offset_ = offset;
  records_read_ = record_index;
  return OkStatus();
}

StatusOr<bool> TfRecordReader::Next(std::string* record) {
  std::string_view view;
  ASSIGN_OR_RETURN(const bool more, NextView(&view));
  if (more) record->assign(view.data(), view.size());
  return more;
}

StatusOr<std::vector<std::string>> ReadTfRecordFile(const std::string& path,
                                                    TfRecordReaderOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<TfRecordReader> reader,
                   TfRecordReader::Open(path, std::move(options)));
  std::vector<std::string> records;
  std::string record;
  while (true) {
    ASSIGN_OR_RETURN(const bool more, reader->Next(&record));
    if (!more) break;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace shardtrain::storage
