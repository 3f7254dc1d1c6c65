// TFRecord writer and reader. See tfrecord.h for the contract and
// tfrecord_format.h for the byte layout.
#include "storage/tfrecord/tfrecord.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/logging.h"
#include "storage/io/crc32c.h"
#include "storage/tfrecord/tfrecord_format.h"

namespace shardtrain::storage {
namespace {

namespace fmt = tfrecord_format;

// Records are handed to the OS once this many bytes are buffered.
constexpr size_t kWriterFlushBytes = size_t{1} << 20;

void PutLittleEndian32(uint32_t v, char* out) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
}
void PutLittleEndian64(uint64_t v, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
}
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

}  // namespace

void AppendTfRecord(std::string_view data, std::string* out) {
  char header[fmt::kHeaderSize];
  PutLittleEndian64(data.size(), header);
  PutLittleEndian32(MaskedCrc(header, fmt::kLengthSize), header + fmt::kLengthSize);
  char footer[fmt::kFooterSize];
  PutLittleEndian32(MaskedCrc(data.data(), data.size()), footer);
  out->append(header, sizeof(header));
  out->append(data);
  out->append(footer, sizeof(footer));
}

// ---------------------------------------------------------------------------
// TfRecordWriter

TfRecordWriter::TfRecordWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
  buffer_.reserve(kWriterFlushBytes + 4096);
}

StatusOr<std::unique_ptr<TfRecordWriter>> TfRecordWriter::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open (for writing)", path);
  return std::unique_ptr<TfRecordWriter>(new TfRecordWriter(fd, path));
}

TfRecordWriter::~TfRecordWriter() {
  if (closed_ || fd_ < 0) return;
  if (status_.ok()) {
    Status flushed = WriteBuffer();
    if (!flushed.ok()) LOG(WARNING) << "TfRecordWriter dropped unflushed records: " << flushed;
  }
  ::close(fd_);
}

Status TfRecordWriter::Write(std::string_view record) {
  if (closed_) return FailedPreconditionError("write to closed TFRecord file '" + path_ + "'");
  if (!status_.ok()) return status_;
  AppendTfRecord(record, &buffer_);
  ++records_written_;
  bytes_written_ += record.size() + fmt::kRecordOverhead;
  if (buffer_.size() >= kWriterFlushBytes) return WriteBuffer();
  return OkStatus();
}

Status TfRecordWriter::WriteBuffer() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      status_ = ErrnoToStatus(errno, "write", path_);
      return status_;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
  return OkStatus();
}

Status TfRecordWriter::Flush() {
  if (closed_) return FailedPreconditionError("flush of closed TFRecord file '" + path_ + "'");
  if (!status_.ok()) return status_;
  return WriteBuffer();
}

Status TfRecordWriter::Close() {
  if (closed_) return status_;
  closed_ = true;
  if (status_.ok()) WriteBuffer().IgnoreError();  // sets status_ on failure
  if (status_.ok() && ::fsync(fd_) != 0) status_ = ErrnoToStatus(errno, "fsync", path_);
  if (::close(fd_) != 0 && status_.ok()) status_ = ErrnoToStatus(errno, "close", path_);
  fd_ = -1;
  return status_;
}

// ---------------------------------------------------------------------------
// TfRecordReader

TfRecordReader::TfRecordReader(int fd, std::string path, TfRecordReaderOptions options)
    : fd_(fd), path_(std::move(path)), options_(std::move(options)) {
  options_.buffer_size = std::max<size_t>(options_.buffer_size, 64);
}

TfRecordReader::~TfRecordReader() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<TfRecordReader>> TfRecordReader::Open(const std::string& path,
                                                               TfRecordReaderOptions options) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  std::unique_ptr<TfRecordReader> reader(new TfRecordReader(fd, path, std::move(options)));
  struct stat info;
  if (::fstat(fd, &info) != 0) return ErrnoToStatus(errno, "fstat", path);
  if (S_ISDIR(info.st_mode)) {
    return InvalidArgumentError("'" + path + "' is a directory, not a TFRecord file");
  }
  size_t capacity = reader->options_.buffer_size;
  if (S_ISREG(info.st_mode)) {
    reader->file_size_ = info.st_size;
    // +1 so that one read() both fills the buffer and sees the end of file.
    capacity = std::min(capacity, static_cast<size_t>(info.st_size) + 1);
  }
  reader->buffer_.resize(std::max<size_t>(capacity, 64));
  return reader;
}

std::unique_ptr<TfRecordReader> TfRecordReader::FromString(std::string contents, std::string name,
                                                           TfRecordReaderOptions options) {
  std::unique_ptr<TfRecordReader> reader(
      new TfRecordReader(-1, std::move(name), std::move(options)));
  reader->end_ = contents.size();
  reader->file_size_ = static_cast<int64_t>(contents.size());
  reader->buffer_ = std::move(contents);
  reader->eof_ = true;
  return reader;
}

StatusOr<size_t> TfRecordReader::Fill(size_t need) {
  size_t available = end_ - begin_;
  if (available >= need || eof_) return available;
  if (buffer_.size() - begin_ < need) {
    // Move the unconsumed bytes to the front, and grow if they still do not fit.
    std::memmove(buffer_.data(), buffer_.data() + begin_, available);
    begin_ = 0;
    end_ = available;
    if (buffer_.size() < need) buffer_.resize(std::max(need, 2 * buffer_.size()));
  }
  while (end_ - begin_ < need && !eof_) {
    const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "read", path_);
    }
    if (n == 0) eof_ = true;
    end_ += static_cast<size_t>(n);
  }
  return end_ - begin_;
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

StatusOr<bool> TfRecordReader::NextView(std::string_view* record) {
  if (!status_.ok()) return status_;
  auto fail = [this](Status status) -> StatusOr<bool> {
    status_ = std::move(status);
    return status_;
  };

  StatusOr<size_t> available = Fill(fmt::kHeaderSize);
  if (!available.ok()) return fail(available.status());
  if (*available == 0) return false;  // clean end of file
  if (*available < fmt::kHeaderSize) {
    return fail(Truncated("the file ends " + std::to_string(*available) + " bytes into the " +
                          std::to_string(fmt::kHeaderSize) + "-byte record header"));
  }
  const char* header = buffer_.data() + begin_;
  const uint64_t length = GetLittleEndian64(header);
  const uint32_t stored_length_crc = GetLittleEndian32(header + fmt::kLengthSize);
  const uint32_t length_crc = MaskedCrc(header, fmt::kLengthSize);
  if (stored_length_crc != length_crc) {
    return fail(Corrupted("length CRC mismatch (stored " + Hex32(stored_length_crc) +
                          ", computed " + Hex32(length_crc) + ")"));
  }
  // The length passed its CRC; if it runs past the end of the file, the file
  // was cut short. Check before allocating for it.
  const uint64_t remaining =
      file_size_ >= 0 ? static_cast<uint64_t>(file_size_) - std::min<uint64_t>(offset_, file_size_)
                      : UINT64_MAX;
  if (length > remaining - std::min<uint64_t>(remaining, fmt::kRecordOverhead) ||
      length > (SIZE_MAX >> 2)) {
    if (file_size_ >= 0) {
      return fail(Truncated("the record declares " + std::to_string(length) +
                            " data bytes but only " + std::to_string(remaining) +
                            " bytes (with its 16 framing bytes) remain in the file"));
    }
    return fail(Corrupted("record length " + std::to_string(length) + " is implausibly large"));
  }
  const size_t total = static_cast<size_t>(length) + fmt::kRecordOverhead;
  available = Fill(total);
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
