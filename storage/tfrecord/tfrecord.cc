// AppendTfRecord and TfRecordWriter (contract in tfrecord.h, byte layout in
// tfrecord_format.h); the reader is in tfrecord_reader.cc.
#include "storage/tfrecord/tfrecord.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/logging.h"
#include "storage/io/crc32c.h"
#include "storage/tfrecord/compressed_stream.h"
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

uint32_t MaskedCrc(const char* data, size_t n) { return Crc32cMask(Crc32c(data, n)); }

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

TfRecordWriter::TfRecordWriter(int fd, std::string path, std::unique_ptr<DeflateStream> deflate)
    : fd_(fd), path_(std::move(path)), deflate_(std::move(deflate)) {
  buffer_.reserve(kWriterFlushBytes + 4096);
}

StatusOr<std::unique_ptr<TfRecordWriter>> TfRecordWriter::Open(const std::string& path,
                                                               TfRecordCompression compression) {
  std::unique_ptr<DeflateStream> deflate;
  if (compression != TfRecordCompression::kNone) {
    ASSIGN_OR_RETURN(deflate, DeflateStream::Create(compression));
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open (for writing)", path);
  return std::unique_ptr<TfRecordWriter>(new TfRecordWriter(fd, path, std::move(deflate)));
}

TfRecordWriter::~TfRecordWriter() {
  if (closed_ || fd_ < 0) return;
  if (status_.ok()) {
    Status flushed = WriteBuffer(Mode::kFinish);
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
  if (buffer_.size() >= kWriterFlushBytes) return WriteBuffer(Mode::kNone);
  return OkStatus();
}

Status TfRecordWriter::WriteBuffer(Mode mode) {
  std::string_view bytes = buffer_;
  if (deflate_ != nullptr) {
    compressed_.clear();
    const DeflateStream::Flush flush = mode == Mode::kFinish ? DeflateStream::Flush::kFinish
                                       : mode == Mode::kSync ? DeflateStream::Flush::kSync
                                                             : DeflateStream::Flush::kNone;
    status_ = deflate_->Compress(buffer_, flush, &compressed_);
    if (!status_.ok()) return status_;
    bytes = compressed_;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      status_ = ErrnoToStatus(errno, "write", path_);
      return status_;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  buffer_.clear();
  return OkStatus();
}

Status TfRecordWriter::Flush() {
  if (closed_) return FailedPreconditionError("flush of closed TFRecord file '" + path_ + "'");
  if (!status_.ok()) return status_;
  return WriteBuffer(Mode::kSync);
}

Status TfRecordWriter::Close() {
  if (closed_) return status_;
  closed_ = true;
  if (status_.ok()) WriteBuffer(Mode::kFinish).IgnoreError();  // sets status_ on failure
  if (status_.ok() && ::fsync(fd_) != 0) status_ = ErrnoToStatus(errno, "fsync", path_);
  if (::close(fd_) != 0 && status_.ok()) status_ = ErrnoToStatus(errno, "close", path_);
  fd_ = -1;
  return status_;
}

}  // namespace shardtrain::storage
