// POSIX and in-memory FileSystem implementations (contract in file_system.h).
#include "storage/io/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "storage/io/crc32c.h"
#include "storage/io/direct_io.h"

namespace shardtrain::storage {

// ---------------------------------------------------------------------------
// Path helpers.

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  std::string_view dir = path.substr(0, slash);
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  return std::string(dir);
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out.push_back('/');
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  out.append(name);
  return out;
}

// ---------------------------------------------------------------------------
// Checksumming defaults.

Status WritableFile::AppendWithCrc32c(std::string_view data, uint32_t* crc) {
  RETURN_IF_ERROR(Append(data));
  *crc = Crc32cExtend(*crc, data.data(), data.size());
  return OkStatus();
}

StatusOr<size_t> RandomAccessFile::ReadWithCrc32c(uint64_t offset, size_t n, char* out,
                                                  uint32_t* crc) const {
  size_t got = 0;
  ASSIGN_OR_RETURN(got, Read(offset, n, out));
  *crc = Crc32cExtend(*crc, out, got);
  return got;
}

// ---------------------------------------------------------------------------
// POSIX.

namespace {

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
  // `direct_fd` (O_DIRECT, or -1) serves reads of kDirectReadMinBytes and more.
  PosixRandomAccessFile(int fd, int direct_fd, std::string path, uint64_t size)
      : fd_(fd), direct_fd_(direct_fd), path_(std::move(path)), size_(size) {}
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
      StatusOr<size_t> got =
          DirectRead(direct_fd_, path_, offset, n, out, crc != nullptr ? &extended : nullptr);
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
};

class PosixFileSystemImpl : public FileSystem {
 public:
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
    return OpenForReading(path, /*uncached=*/false);
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> NewUncachedRandomAccessFile(
      const std::string& path) override {
    return OpenForReading(path, /*uncached=*/true);
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> OpenForReading(const std::string& path,
                                                             bool uncached) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open for reading", path);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      Status status = ErrnoStatus("fstat", path);
      ::close(fd);
      return status;
    }
    if (S_ISDIR(st.st_mode)) {
      ::close(fd);
      return InvalidArgumentError("'" + path + "' is a directory, not a file");
    }
    const int direct_fd = uncached ? OpenDirectReadDescriptor(path) : -1;
    return std::unique_ptr<RandomAccessFile>(
        new PosixRandomAccessFile(fd, direct_fd, path, static_cast<uint64_t>(st.st_size)));
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
    if (::rmdir(path.c_str()) != 0) return ErrnoStatus("rmdir", path);
    return OkStatus();
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

}  // namespace

FileSystem* PosixFileSystem() {
  static PosixFileSystemImpl* const fs = new PosixFileSystemImpl();
  return fs;
}

// ---------------------------------------------------------------------------
// In memory.

struct MemoryFileSystem::Node {
  explicit Node(bool dir) : is_dir(dir) {}
  bool is_dir;
  std::string content;  // files: current bytes
  std::string synced;   // files: bytes as of the last Sync()
  std::map<std::string, std::shared_ptr<Node>> entries;          // dirs: current
  std::map<std::string, std::shared_ptr<Node>> durable_entries;  // dirs: as of SyncDir
};

class MemoryFileSystem::MemWritableFile : public WritableFile {
 public:
  MemWritableFile(MemoryFileSystem* fs, std::shared_ptr<Node> node, std::string path,
                  uint64_t generation)
      : fs_(fs), node_(std::move(node)), path_(std::move(path)), generation_(generation) {}

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    node_->content.append(data);
    return OkStatus();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    node_->synced = node_->content;
    return OkStatus();
  }
  Status Close() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    RETURN_IF_ERROR(CheckLocked());
    closed_ = true;
    return OkStatus();
  }

 private:
  Status CheckLocked() const {
    if (closed_) return FailedPreconditionError("file '" + path_ + "' is closed");
    if (generation_ != fs_->generation_) {
      return FailedPreconditionError("file '" + path_ + "' was open at a simulated crash");
    }
    return OkStatus();
  }

  MemoryFileSystem* fs_;
  std::shared_ptr<Node> node_;
  std::string path_;
  uint64_t generation_;
  bool closed_ = false;
};

class MemoryFileSystem::MemRandomAccessFile : public RandomAccessFile {
 public:
  explicit MemRandomAccessFile(std::string content) : content_(std::move(content)) {}
  StatusOr<size_t> Read(uint64_t offset, size_t n, char* out) const override {
    if (offset >= content_.size()) return size_t{0};
    const size_t count = std::min<uint64_t>(n, content_.size() - offset);
    std::memcpy(out, content_.data() + offset, count);
    return count;
  }
  uint64_t Size() const override { return content_.size(); }

 private:
  const std::string content_;
};

MemoryFileSystem::MemoryFileSystem() : root_(std::make_shared<Node>(true)) {}
MemoryFileSystem::~MemoryFileSystem() = default;

StatusOr<std::vector<std::string>> MemoryFileSystem::Split(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("empty path");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) return InvalidArgumentError("path '" + path + "' climbs above the root");
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    start = end + 1;
  }
  return parts;
}

std::shared_ptr<MemoryFileSystem::Node> MemoryFileSystem::LookupLocked(
    const std::string& path) const {
  auto parts = Split(path);
  if (!parts.ok()) return nullptr;
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : *parts) {
    if (!node->is_dir) return nullptr;
    auto it = node->entries.find(part);
    if (it == node->entries.end()) return nullptr;
    node = it->second;
  }
  return node;
}

StatusOr<std::shared_ptr<MemoryFileSystem::Node>> MemoryFileSystem::ParentLocked(
    const std::string& path, std::string* name) const {
  std::vector<std::string> parts;
  ASSIGN_OR_RETURN(parts, Split(path));
  if (parts.empty()) return InvalidArgumentError("'" + path + "' names the root directory");
  *name = parts.back();
  std::shared_ptr<Node> node = root_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    auto it = node->entries.find(parts[i]);
    if (it == node->entries.end() || !it->second->is_dir) {
      return NotFoundError("parent directory of '" + path + "' does not exist");
    }
    node = it->second;
  }
  return node;
}

StatusOr<std::unique_ptr<WritableFile>> MemoryFileSystem::NewWritableFile(
    const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name;
  std::shared_ptr<Node> parent;
  ASSIGN_OR_RETURN(parent, ParentLocked(path, &name));
  std::shared_ptr<Node>& slot = parent->entries[name];
  if (slot && slot->is_dir) {
    return InvalidArgumentError("open for writing '" + path + "': is a directory");
  }
  if (slot) {
    slot->content.clear();  // O_TRUNC: same file, old content durable until Sync
  } else {
    slot = std::make_shared<Node>(false);
  }
  return std::unique_ptr<WritableFile>(new MemWritableFile(this, slot, path, generation_));
}

StatusOr<std::unique_ptr<RandomAccessFile>> MemoryFileSystem::NewRandomAccessFile(
    const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("open for reading '" + path + "': No such file or directory");
  if (node->is_dir) return InvalidArgumentError("'" + path + "' is a directory, not a file");
  return std::unique_ptr<RandomAccessFile>(new MemRandomAccessFile(node->content));
}

StatusOr<std::string> MemoryFileSystem::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("read '" + path + "': No such file or directory");
  if (node->is_dir) return InvalidArgumentError("read '" + path + "': Is a directory");
  return node->content;
}

StatusOr<uint64_t> MemoryFileSystem::FileSize(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node) return NotFoundError("stat '" + path + "': No such file or directory");
  return static_cast<uint64_t>(node->content.size());
}

bool MemoryFileSystem::FileExists(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  return LookupLocked(path) != nullptr;
}

bool MemoryFileSystem::IsDirectory(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  return node && node->is_dir;
}

Status MemoryFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string what = "rename '" + from + "' to '" + to + "'";
  std::string from_name, to_name;
  std::shared_ptr<Node> from_parent, to_parent;
  ASSIGN_OR_RETURN(from_parent, ParentLocked(from, &from_name));
  ASSIGN_OR_RETURN(to_parent, ParentLocked(to, &to_name));
  auto it = from_parent->entries.find(from_name);
  if (it == from_parent->entries.end()) {
    return NotFoundError(what + ": No such file or directory");
  }
  std::shared_ptr<Node> node = it->second;
  auto target = to_parent->entries.find(to_name);
  if (target != to_parent->entries.end()) {
    if (target->second == node) return OkStatus();
    if (node->is_dir != target->second->is_dir) {
      return FailedPreconditionError(what + ": one is a directory and the other is not");
    }
    if (target->second->is_dir && !target->second->entries.empty()) {
      return FailedPreconditionError(what + ": target directory is not empty");
    }
  }
  if (node->is_dir) {
    // Refuse to move a directory into itself.
    std::vector<std::string> from_parts, to_parts;
    ASSIGN_OR_RETURN(from_parts, Split(from));
    ASSIGN_OR_RETURN(to_parts, Split(to));
    if (to_parts.size() > from_parts.size() &&
        std::equal(from_parts.begin(), from_parts.end(), to_parts.begin())) {
      return InvalidArgumentError(what + ": cannot move a directory into itself");
    }
  }
  from_parent->entries.erase(it);
  to_parent->entries[to_name] = node;
  return OkStatus();
}

Status MemoryFileSystem::DeleteFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name;
  std::shared_ptr<Node> parent;
  ASSIGN_OR_RETURN(parent, ParentLocked(path, &name));
  auto it = parent->entries.find(name);
  if (it == parent->entries.end()) {
    return NotFoundError("unlink '" + path + "': No such file or directory");
  }
  if (it->second->is_dir) return FailedPreconditionError("unlink '" + path + "': Is a directory");
  parent->entries.erase(it);
  return OkStatus();
}

Status MemoryFileSystem::DeleteDir(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string name;
  std::shared_ptr<Node> parent;
  ASSIGN_OR_RETURN(parent, ParentLocked(path, &name));
  auto it = parent->entries.find(name);
  if (it == parent->entries.end()) {
    return NotFoundError("rmdir '" + path + "': No such file or directory");
  }
  if (!it->second->is_dir) return FailedPreconditionError("rmdir '" + path + "': Not a directory");
  if (!it->second->entries.empty()) {
    return FailedPreconditionError("rmdir '" + path + "': Directory not empty");
  }
  parent->entries.erase(it);
  return OkStatus();
}

Status MemoryFileSystem::CreateDirs(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> parts;
  ASSIGN_OR_RETURN(parts, Split(path));
  std::shared_ptr<Node> node = root_;
  for (const std::string& part : parts) {
    std::shared_ptr<Node>& slot = node->entries[part];
    if (!slot) slot = std::make_shared<Node>(true);
    if (!slot->is_dir) {
      return FailedPreconditionError("mkdir '" + path + "': '" + part +
                                     "' exists and is not a directory");
    }
    node = slot;
  }
  return OkStatus();
}

StatusOr<std::vector<std::string>> MemoryFileSystem::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(dir);
  if (!node) return NotFoundError("opendir '" + dir + "': No such file or directory");
  if (!node->is_dir) return NotFoundError("opendir '" + dir + "': Not a directory");
  std::vector<std::string> names;
  for (const auto& [name, child] : node->entries) names.push_back(name);
  return names;
}

Status MemoryFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(dir);
  if (!node) return NotFoundError("open directory '" + dir + "': No such file or directory");
  if (!node->is_dir) return NotFoundError("open directory '" + dir + "': Not a directory");
  node->durable_entries = node->entries;
  return OkStatus();
}

void MemoryFileSystem::SimulateCrash() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  // Walk what stays reachable through durable entries; everything else is gone.
  std::vector<Node*> stack = {root_.get()};
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node->is_dir) {
      node->entries = node->durable_entries;
      for (auto& [name, child] : node->entries) stack.push_back(child.get());
    } else {
      node->content = node->synced;
    }
  }
}

Status MemoryFileSystem::SetFileContent(const std::string& path, std::string content) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<Node> node = LookupLocked(path);
  if (!node || node->is_dir) return NotFoundError("no file '" + path + "'");
  node->content = std::move(content);
  return OkStatus();
}

}  // namespace shardtrain::storage
