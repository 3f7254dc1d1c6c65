// idx readers on top of zlib's gz* API (which also reads uncompressed files).
// See idx_reader.h for the contract.
#include "worker/data/idx_reader.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

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

// Owns a gzFile.
class GzFile {
 public:
  static StatusOr<GzFile> Open(const std::string& path) {
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) return ErrnoToStatus(errno, "stat", path);
    if (S_ISDIR(info.st_mode)) return InvalidArgumentError("'" + path + "' is a directory");
    errno = 0;
    gzFile file = ::gzopen(path.c_str(), "rb");
    if (file == nullptr) {
      if (errno != 0) return ErrnoToStatus(errno, "gzopen", path);
      return ResourceExhaustedError("gzopen '" + path + "': out of memory");
    }
    return GzFile(file, path);
  }
  GzFile(GzFile&& other) noexcept : file_(other.file_), path_(std::move(other.path_)) {
    other.file_ = nullptr;
  }
  GzFile& operator=(GzFile&&) = delete;
  ~GzFile() {
    if (file_ != nullptr) ::gzclose(file_);
  }

  // Reads up to `n` bytes; fewer only at the end of the stream.
  StatusOr<size_t> Read(void* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      const unsigned want = static_cast<unsigned>(std::min(n - done, kChunkBytes));
      const int got = ::gzread(file_, static_cast<char*>(out) + done, want);
      if (got < 0) {
        int code = 0;
        const char* what = ::gzerror(file_, &code);
        if (code == Z_ERRNO) return ErrnoToStatus(errno, "gzread", path_);
        return DataLossError("cannot decompress '" + path_ + "': " + (what ? what : "zlib error") +
                             "; the file is damaged — download it again");
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
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
  GzFile(gzFile file, std::string path) : file_(file), path_(std::move(path)) {}
  gzFile file_;
  std::string path_;
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
  ASSIGN_OR_RETURN(GzFile file, GzFile::Open(path));
  uint8_t header[16];
  RETURN_IF_ERROR(file.ReadExactly(header, 4, "4-byte idx magic"));
  RETURN_IF_ERROR(CheckMagic(BigEndian32(header), kIdxImagesMagic, path));
  RETURN_IF_ERROR(file.ReadExactly(header + 4, 12, "16-byte idx images header (after the magic)"));
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
  RETURN_IF_ERROR(file.ReadPayload(bytes,
                                   "pixels (" + std::to_string(images.count) + " images of " +
                                       std::to_string(images.rows) + "x" +
                                       std::to_string(images.cols) + ")",
                                   &images.pixels));
  return images;
}

StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  ASSIGN_OR_RETURN(GzFile file, GzFile::Open(path));
  uint8_t header[8];
  RETURN_IF_ERROR(file.ReadExactly(header, 4, "4-byte idx magic"));
  RETURN_IF_ERROR(CheckMagic(BigEndian32(header), kIdxLabelsMagic, path));
  RETURN_IF_ERROR(file.ReadExactly(header + 4, 4, "8-byte idx labels header (after the magic)"));
  const uint32_t count = BigEndian32(header + 4);
  std::vector<uint8_t> labels;
  RETURN_IF_ERROR(file.ReadPayload(count, "labels", &labels));
  return labels;
}

}  // namespace shardtrain::data
