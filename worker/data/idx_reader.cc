// idx readers: the file's bytes through storage's InflateStream (the gzip
// reader of compressed TFRecord files) when it starts with the gzip magic, as
// they are otherwise (zlib's gz* API would silently skip garbage after the gzip
// data and read a misnamed .gz as plain). See idx_reader.h for the contract.
#include "worker/data/idx_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>

#include "storage/io/file_system.h"
#include "storage/tfrecord/compressed_stream.h"
#include "storage/tfrecord/compression.h"

namespace shardtrain::data {
namespace {

// Largest payload we accept (a header claiming more is damaged, not a dataset).
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 34;
constexpr size_t kChunkBytes = size_t{1} << 20;

std::string Hex32(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08" PRIx32, v);
  return text;
}

// The bytes of an idx file: decompressed by storage's InflateStream when it
// starts with the gzip magic (1f 8b), read as they are otherwise. Owns the file
// descriptor.
class IdxSource {
 public:
  static StatusOr<std::unique_ptr<IdxSource>> Open(const std::string& path) {
    // A regular file only: a FIFO named as a dataset file would block the read forever.
    uint64_t size = 0;
    ASSIGN_OR_RETURN(const int fd, storage::OpenRegularFileForReading(path, &size));
    std::unique_ptr<IdxSource> source(new IdxSource(fd, path, size));
    uint8_t magic[2];
    const ssize_t got = ::pread(fd, magic, sizeof(magic), 0);
    if (got < 0) return ErrnoToStatus(errno, "read", path);
    const bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!gzip && EndsWith(path, ".gz")) {
      return DataLossError("'" + path + "' is named .gz but is not gzip-compressed (it does not " +
                           "start with the gzip magic 1f 8b); the file is damaged or misnamed — " +
                           "download it again, or drop the .gz suffix of an uncompressed file");
    }
    if (gzip) {
      source->inflate_ = storage::InflateStream::FromFile(
          fd, path, storage::TfRecordCompression::kGzip, kInputBytes);
    }
    return source;
  }
  IdxSource(const IdxSource&) = delete;
  IdxSource& operator=(const IdxSource&) = delete;
  ~IdxSource() {
    inflate_.reset();  // borrows fd_
    ::close(fd_);
  }

  // Reads up to `n` bytes; fewer only at the end of the data.
  StatusOr<size_t> Read(void* out, size_t n) {
    uint8_t* bytes = static_cast<uint8_t*>(out);
    size_t done = 0;
    while (done < n) {
      const size_t want = std::min(n - done, kChunkBytes);
      ASSIGN_OR_RETURN(const size_t got, inflate_ != nullptr ? Inflate(bytes + done, want)
                                                             : ReadRaw(bytes + done, want));
      if (got == 0) break;
      done += got;
    }
    return done;
  }

  // Reads exactly `n` bytes; `what` names them in the error for a short file.
  Status ReadExactly(void* out, size_t n, const std::string& what) {
    ASSIGN_OR_RETURN(const size_t got, Read(out, n));
    if (got < n) {
      return DataLossError("'" + path_ + "' is too short: it ends after " + std::to_string(got) +
                           " of the " + std::to_string(n) + " bytes of its " + what +
                           "; the file is truncated — download it again");
    }
    return OkStatus();
  }

  // Reads `n` payload bytes into `out` (growing it as data arrives, from 1 MiB
  // by doubling up to 64 MiB steps, so a damaged header cannot make us allocate
  // much more memory than the file backs), then checks that nothing follows.
  Status ReadPayload(uint64_t n, const std::string& what, std::vector<uint8_t>* out) {
    if (n > kMaxPayloadBytes) {
      return DataLossError("'" + path_ + "' declares " + std::to_string(n) + " bytes of " + what +
                           ", more than any idx dataset holds; the header is damaged");
    }
    out->clear();
    while (out->size() < n) {
      const size_t start = out->size();
      const size_t step = static_cast<size_t>(std::min<uint64_t>(
          n - start, std::clamp<size_t>(start, size_t{1} << 20, size_t{64} << 20)));
      out->resize(start + step);
      ASSIGN_OR_RETURN(const size_t got, Read(out->data() + start, step));
      if (got < step) {
        return DataLossError("'" + path_ + "' is too short: its header declares " +
                             std::to_string(n) + " bytes of " + what + " but only " +
                             std::to_string(start + got) +
                             " follow; the file is truncated — download it again");
      }
    }
    uint8_t extra[4096];
    uint64_t trailing = 0;
    while (true) {
      ASSIGN_OR_RETURN(const size_t got, Read(extra, sizeof(extra)));
      if (got == 0) break;
      trailing += got;
    }
    if (trailing > 0) {
      return DataLossError("'" + path_ + "' has " + std::to_string(trailing) + " bytes after the " +
                           std::to_string(n) + " bytes of " + what +
                           " its header declares; the count in the header does not match the "
                           "data");
    }
    return OkStatus();
  }

 private:
  IdxSource(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}

  static bool EndsWith(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
  }

  // An uncompressed file: reads up to `n` bytes; 0 at its end.
  StatusOr<size_t> ReadRaw(uint8_t* out, size_t n) {
    while (true) {
      const ssize_t got = ::read(fd_, out, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return ErrnoToStatus(errno, "read", path_);
    }
  }

  // A gzip file: decompresses up to `n` bytes; 0 at the end of its last
  // member. InflateStream's damage becomes DataLoss naming the file; bytes
  // after the gzip data are counted from the file size.
  StatusOr<size_t> Inflate(uint8_t* out, size_t n) {
    StatusOr<size_t> got = inflate_->Read(reinterpret_cast<char*>(out), n);
    if (got.ok() || got.status().code() != StatusCode::kDataLoss) return got;
    switch (inflate_->damage()) {
      case storage::StreamDamage::kTrailingData:
        return DataLossError("'" + path_ + "' has " +
                             std::to_string(size_ - inflate_->compressed_offset()) +
                             " bytes of trailing garbage after its gzip data; the file is "
                             "damaged — download it again");
      case storage::StreamDamage::kTruncated:
        return DataLossError("cannot decompress '" + path_ + "': " + got.status().message() +
                             "; the file is truncated — download it again");
      default:
        return DataLossError("cannot decompress '" + path_ + "': " + got.status().message() +
                             "; the file is damaged — download it again");
    }
  }

  static constexpr size_t kInputBytes = size_t{256} << 10;

  const int fd_;
  const std::string path_;
  const uint64_t size_;  // bytes in the file
  // Set for a gzip file.
  std::unique_ptr<storage::InflateStream> inflate_;
};

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

Status CheckMagic(uint32_t magic, uint32_t expected, const std::string& path) {
  if (magic == expected) return OkStatus();
  std::string kind = "not an idx file";
  if (magic == kIdxImagesMagic) kind = "an idx images file";
  if (magic == kIdxLabelsMagic) kind = "an idx labels file";
  return InvalidArgumentError("'" + path + "' has magic " + Hex32(magic) + " (" + kind +
                              "); expected " + Hex32(expected) + " (" +
                              (expected == kIdxImagesMagic ? "idx images: uint8, 3 dimensions"
                                                           : "idx labels: uint8, 1 dimension") +
                              ")");
}

}  // namespace

StatusOr<IdxImages> ReadIdxImages(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<IdxSource> file, IdxSource::Open(path));
  uint8_t header[16];
  RETURN_IF_ERROR(file->ReadExactly(header, 4, "4-byte idx magic"));
  RETURN_IF_ERROR(CheckMagic(BigEndian32(header), kIdxImagesMagic, path));
  RETURN_IF_ERROR(file->ReadExactly(header + 4, 12, "16-byte idx images header (after the magic)"));
  IdxImages images;
  images.count = BigEndian32(header + 4);
  images.rows = BigEndian32(header + 8);
  images.cols = BigEndian32(header + 12);
  if (images.rows == 0 || images.cols == 0 || images.rows > 65536 || images.cols > 65536) {
    return DataLossError("'" + path + "' declares images of " + std::to_string(images.rows) + "x" +
                         std::to_string(images.cols) + " pixels; the header is damaged");
  }
  const uint64_t bytes =
      static_cast<uint64_t>(images.count) * static_cast<uint64_t>(images.rows * images.cols);
  RETURN_IF_ERROR(file->ReadPayload(bytes,
                                   "pixels (" + std::to_string(images.count) + " images of " +
                                       std::to_string(images.rows) + "x" +
                                       std::to_string(images.cols) + ")",
                                   &images.pixels));
  return images;
}

StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<IdxSource> file, IdxSource::Open(path));
  uint8_t header[8];
  RETURN_IF_ERROR(file->ReadExactly(header, 4, "4-byte idx magic"));
  RETURN_IF_ERROR(CheckMagic(BigEndian32(header), kIdxLabelsMagic, path));
  RETURN_IF_ERROR(file->ReadExactly(header + 4, 4, "8-byte idx labels header (after the magic)"));
  const uint32_t count = BigEndian32(header + 4);
  std::vector<uint8_t> labels;
  RETURN_IF_ERROR(file->ReadPayload(count, "labels", &labels));
  return labels;
}

}  // namespace shardtrain::data
