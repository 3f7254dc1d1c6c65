// Page-cache-bypassing (O_DIRECT) file I/O for large sequential transfers:
// checkpoint data files written once and read back once. On the machines we
// measured (docs/BENCHMARKS.md, "Checkpoint save and restore") buffered writes
// and cold buffered reads run at 0.3-0.4 GB/s because every byte goes through
// freshly allocated page-cache pages, while O_DIRECT through an aligned staging
// buffer runs at disk speed.
//
// Contract:
//   * OpenDirectWritableFile returns a WritableFile with the usual contract
//     (storage/io/file_system.h), or nullptr when the file system refuses
//     O_DIRECT (tmpfs: EINVAL) — the caller then opens a buffered file.
//     Bytes are staged in a 2 MiB buffer (huge-page aligned and, where the
//     kernel allows, backed by one transparent huge page) and written in whole
//     aligned blocks; the unaligned tail is written after dropping O_DIRECT
//     (fcntl), so the file ends exactly at the last appended byte. A direct
//     write the kernel refuses with EINVAL falls back to buffered writes.
//     Writes run in the background while the next buffer fills.
//   * DirectRead reads [offset, offset + n) of an O_DIRECT descriptor through
//     2 MiB staging chunks (as the writer's) into `out` (any alignment),
//     extending `*crc` (CRC-32C, when not null) over the bytes returned. Up
//     to eight chunks (fewer while a DirectReadsInFlight object says so) are
//     read at once through the calling thread's io_uring while the oldest is
//     copied out; without io_uring (a kernel or seccomp policy that refuses
//     it, or SHARDTRAIN_NO_IO_URING set) the chunks are read one after the
//     other with pread. Returns the bytes read (fewer only at end of file),
//     or InvalidArgument when the kernel refuses O_DIRECT, for the caller to
//     read buffered instead. Thread-safe (positional reads). Each calling
//     thread keeps its ring and staging chunks (up to 16 MiB) from its first
//     call until it exits, so many small reads cost no more than one large one.
//   * While a DirectReadIdleWork object lives, DirectRead on the thread that
//     made it runs its work instead of sleeping whenever no chunk has arrived
//     (io_uring only): the restore lets MPI move broadcasts in that time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/io/file_system.h"

namespace shardtrain::storage {

// Block size that satisfies O_DIRECT alignment on every Linux file system we
// target (logical block sizes 512 and 4096).
inline constexpr size_t kDirectIoAlignment = 4096;
// Reads at least this large go through O_DIRECT (smaller ones stay buffered,
// where the page cache helps repeated small reads).
inline constexpr size_t kDirectReadMinBytes = size_t{1} << 20;

// Writes all of [data, data + n) at `fd`'s position, retrying EINTR and
// short writes; 0, or the errno of the failing write() (the POSIX writers of
// file_system.cc use it too).
int WriteFully(int fd, const char* data, size_t n);

// Opens `path` for writing with O_DIRECT (created or truncated). nullptr when
// the file system does not support O_DIRECT; an error Status for anything else.
StatusOr<std::unique_ptr<WritableFile>> OpenDirectWritableFile(const std::string& path);

// Opens `path` read-only with O_DIRECT; -1 when unsupported or on any error
// (the caller keeps reading buffered).
int OpenDirectReadDescriptor(const std::string& path);

// Positional read of `n` bytes at `offset` from the O_DIRECT descriptor `fd`,
// extending `*crc` over them when `crc` is not null. An EINVAL from the kernel
// comes back as InvalidArgument (fall back); other errors name `path`.
StatusOr<size_t> DirectRead(int fd, const std::string& path, uint64_t offset, size_t n,
                            char* out, uint32_t* crc);

// The most chunks DirectRead keeps in flight on one thread, and its default.
inline constexpr size_t kMaxDirectReadsInFlight = 8;

// While an object lives, DirectRead on the thread that made it keeps at most
// `reads` chunks in flight (clamped to 1..kMaxDirectReadsInFlight): ranks that
// share one disk read best with about kMaxDirectReadsInFlight in flight among
// them, not each. Objects nest: the newest one's count holds. Not movable.
class DirectReadsInFlight {
 public:
  explicit DirectReadsInFlight(size_t reads);
  ~DirectReadsInFlight();
  DirectReadsInFlight(const DirectReadsInFlight&) = delete;
  DirectReadsInFlight& operator=(const DirectReadsInFlight&) = delete;

  // This thread's current count.
  static size_t OfThisThread();

 private:
  size_t outer_;
};

// Work for DirectRead to run on this thread while it waits for the disk (see
// the contract above). `work` does a short step and returns whether more is
// left; once it returns false it is not called again until the next
// DirectRead call. Objects nest: the newest one's work runs. Not movable.
class DirectReadIdleWork {
 public:
  explicit DirectReadIdleWork(std::function<bool()> work);
  ~DirectReadIdleWork();
  DirectReadIdleWork(const DirectReadIdleWork&) = delete;
  DirectReadIdleWork& operator=(const DirectReadIdleWork&) = delete;

  // The work of this thread's newest object, or null.
  static const std::function<bool()>* OfThisThread();

 private:
  std::function<bool()> work_;
  const DirectReadIdleWork* outer_;
};

}  // namespace shardtrain::storage
