// File system interface used by every storage writer and reader, with a POSIX
// implementation (posix_file_system.cc) and an in-memory one that models crash
// durability (memory_file_system.cc).
//
// Paths are plain strings ("/a/b/c" or relative "a/b"). Every failure is a
// Status naming the operation and the path; nothing here aborts or throws.
//
// Thread-safety: FileSystem objects (PosixFileSystem(), MemoryFileSystem) are
// thread-safe. A WritableFile is used by one thread at a time. A
// RandomAccessFile is thread-safe (reads are positional).
//
// MemoryFileSystem durability model (for crash tests):
//   * A file's bytes become durable only when its WritableFile::Sync() (or
//     Close() after Sync) succeeds; Close() alone does NOT sync.
//   * Directory entries — creating a file or directory, Rename, DeleteFile,
//     DeleteDir — become durable only when SyncDir(parent directory) is called
//     afterwards. A rename between directories needs SyncDir of both parents
//     (each parent's entries are made durable independently).
//   * SimulateCrash() throws away everything not durable: the namespace
//     reverts to the last synced directory entries (un-synced renames revert,
//     un-synced creations disappear, un-synced deletions come back), and every
//     surviving file's content reverts to the content at its last Sync() (empty
//     when it was never synced). Entries under a directory whose own entry is not
//     durable disappear with it. WritableFiles open at the crash fail afterwards
//     with FailedPrecondition.
//   * NewWritableFile on an existing path truncates that same file (as O_TRUNC
//     does): the old content stays durable until the next Sync().
//   * A RandomAccessFile sees the content as of when it was opened.
//   * Paths are resolved lexically; relative paths are taken relative to "/".
//     Directories may be renamed (their entries move with them, as inodes do).
//   * Fault injection (tests): SetSpaceLimit models a full disk (ENOSPC →
//     ResourceExhausted), SetReadOnly a read-only mount (EROFS →
//     PermissionDenied), with the messages PosixFileSystem gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace shardtrain::storage {

// A file open for appending. Not thread-safe. Destroying an unclosed file
// closes it without syncing (errors ignored): call Close() to see errors.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data`; may buffer. After a failure every later call fails.
  virtual Status Append(std::string_view data) = 0;
  // Append, extending `*crc` (CRC-32C, storage/io/crc32c.h) over `data`;
  // an implementation may checksum while it copies, reading each byte once.
  virtual Status AppendWithCrc32c(std::string_view data, uint32_t* crc);
  // Flushes buffered bytes and makes the content durable (fsync).
  virtual Status Sync() = 0;
  // Flushes buffered bytes and closes (no fsync). Later calls fail.
  virtual Status Close() = 0;
};

// A file open for positional reads. Thread-safe.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Reads up to `n` bytes at `offset` into `out`; returns how many were read,
  // fewer than `n` only at the end of the file (0 at or beyond it).
  virtual StatusOr<size_t> Read(uint64_t offset, size_t n, char* out) const = 0;
  // Read, extending `*crc` (CRC-32C) over the bytes read.
  virtual StatusOr<size_t> ReadWithCrc32c(uint64_t offset, size_t n, char* out,
                                          uint32_t* crc) const;
  // Size in bytes when opened.
  virtual uint64_t Size() const = 0;
};

// Tuning of uncached reads (storage/io/direct_io.h), fixed when the file is
// opened.
struct UncachedReadOptions {
  // 2 MiB reads each reading thread keeps in the kernel at once (1 to 16): 8
  // read fastest (docs/notes/checkpoint-io.md).
  size_t reads_in_flight = 8;
  // Test-only: false reads every chunk with pread, as where the kernel or a
  // seccomp policy refuses io_uring.
  bool use_io_uring = true;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` (or truncates an existing file) for writing. The parent
  // directory must exist (NotFound otherwise).
  virtual StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing file for positional reads.
  virtual StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // As NewWritableFile / NewRandomAccessFile, for large files written or read
  // once in big sequential pieces (checkpoint data): these may bypass the page
  // cache (O_DIRECT, storage/io/direct_io.h) where the file system allows;
  // small reads still go through it. The default is the cached file.
  virtual StatusOr<std::unique_ptr<WritableFile>> NewUncachedWritableFile(const std::string& path) {
    return NewWritableFile(path);
  }
  StatusOr<std::unique_ptr<RandomAccessFile>> NewUncachedRandomAccessFile(const std::string& path) {
    return NewUncachedRandomAccessFile(path, UncachedReadOptions());
  }
  virtual StatusOr<std::unique_ptr<RandomAccessFile>> NewUncachedRandomAccessFile(
      const std::string& path, const UncachedReadOptions& /*options*/) {
    return NewRandomAccessFile(path);
  }
  // The whole content of a file.
  virtual StatusOr<std::string> ReadFile(const std::string& path) = 0;
  virtual StatusOr<uint64_t> FileSize(const std::string& path) = 0;
  // True when `path` names a file or a directory.
  virtual bool FileExists(const std::string& path) = 0;
  virtual bool IsDirectory(const std::string& path) = 0;
  // Atomically renames file `from` to `to`, replacing `to` if it exists.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file (not a directory).
  virtual Status DeleteFile(const std::string& path) = 0;
  // Removes an empty directory.
  virtual Status DeleteDir(const std::string& path) = 0;
  // Creates `path` and its missing ancestors; OK when it already exists as a
  // directory.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the files and directories directly inside `dir`,
  // sorted, without "." and "..".
  virtual StatusOr<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Makes the directory entries of `dir` durable (fsync of the directory).
  virtual Status SyncDir(const std::string& dir) = 0;
};

// The process-wide POSIX file system (never null; not owned by the caller).
// errno values become Status codes via ErrnoToStatus (ENOENT → NotFound,
// EACCES → PermissionDenied, ENOSPC → ResourceExhausted, ...), the message naming
// the call, the path and strerror.
FileSystem* PosixFileSystem();

// Opens `path` read-only (close-on-exec) after checking, without blocking (the
// open is O_NONBLOCK until fstat has run), that it is a regular file: a FIFO,
// directory, socket or device is InvalidArgument naming the path and what it
// is, since a FIFO named as a data file would block a reader forever. Returns
// the descriptor, which the caller closes; `*size` receives the file's size.
// PosixFileSystem() opens files for reading this way.
StatusOr<int> OpenRegularFileForReading(const std::string& path, uint64_t* size);

// Directory part of `path` ("a/b/c" → "a/b", "c" → ".", "/c" → "/").
std::string DirName(std::string_view path);
// Last component of `path` ("a/b/c" → "c").
std::string BaseName(std::string_view path);
// `dir` + "/" + `name` (no doubled slash; `dir` empty → `name`).
std::string JoinPath(std::string_view dir, std::string_view name);

// In-memory file system with the durability model described at the top of this
// file. Thread-safe (one mutex).
class MemoryFileSystem : public FileSystem {
 public:
  MemoryFileSystem();
  ~MemoryFileSystem() override;

  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  StatusOr<std::string> ReadFile(const std::string& path) override;
  StatusOr<uint64_t> FileSize(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  bool IsDirectory(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status DeleteFile(const std::string& path) override;
  Status DeleteDir(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;

  // Drops everything that is not durable (see the top of this file).
  void SimulateCrash();

  // Test helper: replaces a file's current content (not durable until a
  // later sync through a WritableFile is made; use for corrupting files).
  Status SetFileContent(const std::string& path, std::string content);

  // Fault injection: the current content of all files in the tree may total
  // at most `bytes`. An Append past it writes what fits, then fails with
  // ResourceExhausted "write 'PATH': No space left on device" (later calls on
  // that file fail too). kNoSpaceLimit (the default) lifts the limit.
  static constexpr uint64_t kNoSpaceLimit = UINT64_MAX;
  void SetSpaceLimit(uint64_t bytes);
  // Fault injection: while read-only, every call that changes the tree
  // (NewWritableFile, Rename, DeleteFile, DeleteDir, CreateDirs of a missing
  // directory) and Append fail with PermissionDenied "...: Read-only file
  // system"; reads, Sync, SyncDir and Close still succeed.
  void SetReadOnly(bool read_only);

  // Implementation detail shared with the file objects: a file or a directory.
  struct Node;

 private:
  class MemWritableFile;
  class MemRandomAccessFile;
  // Components of `path` ("/a//b/./c" → {a, b, c}; relative paths are taken
  // relative to "/"); InvalidArgument for a ".." that climbs above the root.
  static StatusOr<std::vector<std::string>> Split(const std::string& path);
  // The node at `path`, or null.
  std::shared_ptr<Node> LookupLocked(const std::string& path) const;
  // The directory that holds `path`'s last component (NotFound when missing or
  // not a directory); `*name` receives that component.
  StatusOr<std::shared_ptr<Node>> ParentLocked(const std::string& path, std::string* name) const;
  // Removes the file (or, with `is_dir`, the empty directory) `path`.
  Status RemoveLocked(const std::string& path, bool is_dir);
  // PermissionDenied for `call` on `path` while read-only.
  Status CheckWritableLocked(std::string_view call, const std::string& path) const;
  // Bytes an Append may still add: the space limit less the content of every
  // file in the tree.
  uint64_t FreeBytesLocked() const;

  mutable std::mutex mu_;
  uint64_t generation_ = 0;  // bumped by SimulateCrash(); older writers fail
  uint64_t space_limit_ = kNoSpaceLimit;
  bool read_only_ = false;
  std::shared_ptr<Node> root_;
};

}  // namespace shardtrain::storage
