// PosixFileSystem() (contract in file_system.h): plain POSIX calls, errno
// mapped to Status naming the call and the path; the uncached files go through
// storage/io/direct_io.h. Files are opened for reading only when they are
// regular files (OpenRegularFileForReading), so a FIFO never blocks a reader.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "storage/io/crc32c.h"
#include "storage/io/direct_io.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {
namespace {

// Reads at least this large go through O_DIRECT on uncached files; smaller
// ones stay buffered, where the page cache helps repeated small reads.
constexpr size_t kDirectReadMinBytes = size_t{1} << 20;

Status ErrnoStatus(std::string_view call, std::string_view path) {
  return ErrnoToStatus(errno, call, path);
}

Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  const int error = WriteFully(fd, data, n);
  return error == 0 ? OkStatus() : ErrnoToStatus(error, "write", path);
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) {
      FlushBuffer().IgnoreError();
      ::close(fd_);
    }
  }

  Status Append(std::string_view data) override {
    RETURN_IF_ERROR(CheckOpen());
    if (buffer_.size() + data.size() > kBufferSize) RETURN_IF_ERROR(FlushBuffer());
    if (data.size() >= kBufferSize) {
      status_ = WriteAll(fd_, data.data(), data.size(), path_);
      return status_;
    }
    buffer_.append(data);
    return OkStatus();
  }

  Status Sync() override {
    RETURN_IF_ERROR(CheckOpen());
    RETURN_IF_ERROR(FlushBuffer());
    if (::fsync(fd_) != 0) status_ = ErrnoStatus("fsync", path_);
    return status_;
  }

  Status Close() override {
    RETURN_IF_ERROR(CheckOpen());
    Status flushed = FlushBuffer();
    const int rc = ::close(fd_);
    fd_ = -1;
    RETURN_IF_ERROR(flushed);
    if (rc != 0) return status_ = ErrnoStatus("close", path_);
    status_ = FailedPreconditionError("file '" + path_ + "' is closed");
    return OkStatus();
  }

 private:
  static constexpr size_t kBufferSize = size_t{1} << 20;

  Status CheckOpen() const {
    if (fd_ < 0 && status_.ok()) return FailedPreconditionError("file '" + path_ + "' is closed");
    return status_;
  }
  Status FlushBuffer() {
    if (buffer_.empty() || !status_.ok()) return status_;
    status_ = WriteAll(fd_, buffer_.data(), buffer_.size(), path_);
    buffer_.clear();
    return status_;
  }

  int fd_;
  std::string path_;
  std::string buffer_;
  Status status_;  // sticky first error (or "closed")
};

class PosixRandomAccessFile : public RandomAccessFile {
 public:
  // `direct_fd` (O_DIRECT, or -1) serves reads of kDirectReadMinBytes and
  // more, as `options` say.
  PosixRandomAccessFile(int fd, int direct_fd, std::string path, uint64_t size,
                        const UncachedReadOptions& options)
      : fd_(fd), direct_fd_(direct_fd), path_(std::move(path)), size_(size), options_(options) {}
  ~PosixRandomAccessFile() override {
    ::close(fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
  }

  StatusOr<size_t> Read(uint64_t offset, size_t n, char* out) const override {
    return ReadExtendingCrc(offset, n, out, nullptr);
  }

  StatusOr<size_t> ReadWithCrc32c(uint64_t offset, size_t n, char* out,
                                  uint32_t* crc) const override {
    return ReadExtendingCrc(offset, n, out, crc);
  }
  uint64_t Size() const override { return size_; }

 private:
  // Big reads go direct when a direct descriptor exists; the kernel refusing
  // O_DIRECT there (InvalidArgument) falls back to the page cache. `crc`, when
  // not null, is extended over the bytes read, and only on success.
  StatusOr<size_t> ReadExtendingCrc(uint64_t offset, size_t n, char* out, uint32_t* crc) const {
    if (direct_fd_ >= 0 && n >= kDirectReadMinBytes) {
      uint32_t extended = crc != nullptr ? *crc : 0;
      StatusOr<size_t> got = DirectRead(direct_fd_, path_, offset, n, out,
                                        crc != nullptr ? &extended : nullptr, options_);
      if (got.ok() && crc != nullptr) *crc = extended;
      if (got.ok() || got.status().code() != StatusCode::kInvalidArgument) return got;
    }
    size_t got = 0;
    ASSIGN_OR_RETURN(got, BufferedRead(offset, n, out));
    if (crc != nullptr) *crc = Crc32cExtend(*crc, out, got);
    return got;
  }

  StatusOr<size_t> BufferedRead(uint64_t offset, size_t n, char* out) const {
    size_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("pread", path_);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  int fd_;
  int direct_fd_;
  std::string path_;
  uint64_t size_;
  UncachedReadOptions options_;
};

class PosixFileSystemImpl : public FileSystem {
 public:
  using FileSystem::NewUncachedRandomAccessFile;

  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus("open for writing", path);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  StatusOr<std::unique_ptr<WritableFile>> NewUncachedWritableFile(
      const std::string& path) override {
    std::unique_ptr<WritableFile> file;
    ASSIGN_OR_RETURN(file, OpenDirectWritableFile(path));
    if (file == nullptr) return NewWritableFile(path);  // no O_DIRECT here (tmpfs)
    return file;
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return OpenForReading(path, /*uncached=*/false, UncachedReadOptions());
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> NewUncachedRandomAccessFile(
      const std::string& path, const UncachedReadOptions& options) override {
    return OpenForReading(path, /*uncached=*/true, options);
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> OpenForReading(const std::string& path, bool uncached,
                                                             const UncachedReadOptions& options) {
    uint64_t size = 0;
    int fd = -1;
    ASSIGN_OR_RETURN(fd, OpenRegularFileForReading(path, &size));
    const int direct_fd = uncached ? OpenDirectReadDescriptor(path) : -1;
    return std::unique_ptr<RandomAccessFile>(
        new PosixRandomAccessFile(fd, direct_fd, path, size, options));
  }

  StatusOr<std::string> ReadFile(const std::string& path) override {
    std::unique_ptr<RandomAccessFile> file;
    ASSIGN_OR_RETURN(file, NewRandomAccessFile(path));
    std::string content(file->Size(), '\0');
    size_t got = 0;
    ASSIGN_OR_RETURN(got, file->Read(0, content.size(), content.data()));
    content.resize(got);
    // The file may have grown since fstat: read the rest.
    char chunk[65536];
    while (true) {
      size_t more = 0;
      ASSIGN_OR_RETURN(more, file->Read(content.size(), sizeof(chunk), chunk));
      if (more == 0) break;
      content.append(chunk, more);
    }
    return content;
  }

  StatusOr<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
    return static_cast<uint64_t>(st.st_size);
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  bool IsDirectory(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus("rename", from + "' to '" + to);
    }
    return OkStatus();
  }

  Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path);
    return OkStatus();
  }

  Status DeleteDir(const std::string& path) override {
    if (::rmdir(path.c_str()) == 0) return OkStatus();
    if (errno == ENOTEMPTY) {  // as MemoryFileSystem says it
      return FailedPreconditionError("rmdir '" + path + "': Directory not empty");
    }
    return ErrnoStatus("rmdir", path);
  }

  Status CreateDirs(const std::string& path) override {
    if (path.empty()) return InvalidArgumentError("CreateDirs: empty path");
    if (IsDirectory(path)) return OkStatus();
    const std::string parent = DirName(path);
    if (parent != path && parent != "." && parent != "/") RETURN_IF_ERROR(CreateDirs(parent));
    if (::mkdir(path.c_str(), 0755) != 0) {
      if (errno == EEXIST && IsDirectory(path)) return OkStatus();  // raced with another creator
      if (errno == EEXIST) {
        return FailedPreconditionError("mkdir '" + path + "': exists and is not a directory");
      }
      return ErrnoStatus("mkdir", path);
    }
    return OkStatus();
  }

  StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("opendir", dir);
    std::vector<std::string> names;
    while (true) {
      errno = 0;
      struct dirent* entry = ::readdir(d);
      if (entry == nullptr) {
        if (errno != 0) {
          Status status = ErrnoStatus("readdir", dir);
          ::closedir(d);
          return status;
        }
        break;
      }
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open directory", dir);
    Status status;
    if (::fsync(fd) != 0) status = ErrnoStatus("fsync directory", dir);
    ::close(fd);
    return status;
  }
};

// What a non-regular file is, for messages.
const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

}  // namespace

StatusOr<int> OpenRegularFileForReading(const std::string& path, uint64_t* size) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait for one.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open for reading", path);
  struct stat st;
  Status status;
  if (::fstat(fd, &st) != 0) {
    status = ErrnoStatus("fstat", path);
  } else if (!S_ISREG(st.st_mode)) {
    status =
        InvalidArgumentError("'" + path + "' is " + FileKind(st.st_mode) + ", not a regular file");
  } else if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    status = ErrnoStatus("fcntl", path);
  }
  if (!status.ok()) {
    ::close(fd);
    return status;
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

FileSystem* PosixFileSystem() {
  static PosixFileSystemImpl* const fs = new PosixFileSystemImpl();
  return fs;
}

}  // namespace shardtrain::storage
