// The O_DIRECT writer and reader (contract in direct_io.h). The reader uses no
// threads of its own: on 2 cores reader threads took the ranks' CPU
// (docs/notes/checkpoint-io.md).
#include "storage/io/direct_io.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <semaphore>
#include <thread>
#include <utility>
#include <vector>

#include "storage/io/crc32c.h"

namespace shardtrain::storage {
namespace {

// O_DIRECT alignment on every Linux file system we target (512 or 4096).
constexpr size_t kDirectIoAlignment = 4096;
// Each staging buffer and read chunk: 2 MiB overlapped the copy with the I/O
// better than 8 or 32 MiB (docs/notes/checkpoint-io.md).
constexpr size_t kStagingBytes = size_t{2} << 20;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

// A kStagingBytes buffer aligned for O_DIRECT, or null.
AlignedBuffer AllocateStaging() {
  return AlignedBuffer(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, kStagingBytes)));
}

// Copies `n` bytes and extends `*crc` (when not null) over them, in L2-sized
// pieces so the copy reads what the checksum just brought into cache.
void CopyWithCrc(char* to, const char* from, size_t n, uint32_t* crc) {
  constexpr size_t kPieceBytes = size_t{256} << 10;
  for (size_t done = 0; done < n; done += kPieceBytes) {
    const size_t piece = std::min(kPieceBytes, n - done);
    if (crc != nullptr) *crc = Crc32cExtend(*crc, from + done, piece);
    std::memcpy(to + done, from + done, piece);
  }
}

// Fills one staging buffer, taking checksums, while a thread kept for the
// file's life writes the other (a thread per write costs more on VMs).
class DirectWritableFile : public WritableFile {
 public:
  DirectWritableFile(int fd, std::string path)
      : fd_(fd), path_(std::move(path)), staging_{AllocateStaging(), AllocateStaging()} {}
  ~DirectWritableFile() override {
    if (fd_ >= 0) {
      Flush().IgnoreError();
      ::close(fd_);
    }
    FinishBackgroundWrite().IgnoreError();
    start_.release();  // with nothing to write: the thread ends
    writer_.join();
  }

  bool has_buffers() const { return staging_[0] != nullptr && staging_[1] != nullptr; }

  Status Append(std::string_view data) override { return AppendWithCrc32c(data, nullptr); }

  Status AppendWithCrc32c(std::string_view data, uint32_t* crc) override {
    RETURN_IF_ERROR(CheckOpen());
    while (!data.empty()) {
      const size_t take = std::min(data.size(), kStagingBytes - used_);
      CopyWithCrc(staging_[active_].get() + used_, data.data(), take, crc);
      used_ += take;
      data.remove_prefix(take);
      if (used_ == kStagingBytes) RETURN_IF_ERROR(StartBackgroundWrite());
    }
    return OkStatus();
  }

  Status Sync() override {
    RETURN_IF_ERROR(CheckOpen());
    RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) status_ = ErrnoToStatus(errno, "fsync", path_);
    return status_;
  }

  Status Close() override {
    RETURN_IF_ERROR(CheckOpen());
    Status flushed = Flush();
    const int rc = ::close(fd_);
    fd_ = -1;
    RETURN_IF_ERROR(flushed);
    if (rc != 0) return status_ = ErrnoToStatus(errno, "close", path_);
    status_ = FailedPreconditionError("file '" + path_ + "' is closed");
    return OkStatus();
  }

 private:
  Status CheckOpen() const {
    if (fd_ < 0 && status_.ok()) return FailedPreconditionError("file '" + path_ + "' is closed");
    return status_;
  }

  // Leaves O_DIRECT: every later write goes through the page cache. 0 or errno.
  int DropDirect() {
    const int flags = ::fcntl(fd_, F_GETFL);
    if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) != 0) return errno;
    direct_ = false;
    return 0;
  }

  // Writes [data, data + n); a direct write the kernel refuses (EINVAL: an
  // alignment this file system does not take) is retried buffered.
  int Write(const char* data, size_t n) {
    int error = WriteFully(fd_, data, n);
    if (error == EINVAL && direct_) {
      error = DropDirect();
      if (error == 0) error = WriteFully(fd_, data, n);
    }
    return error;
  }

  // The background thread: writes `writing_` whenever start_ is released.
  void WriteInBackground() {
    while (true) {
      start_.acquire();
      if (writing_ == nullptr) return;
      background_error_ = Write(writing_, kStagingBytes);
      done_.release();
    }
  }

  // Waits for the write in flight, if any; its failure becomes sticky.
  Status FinishBackgroundWrite() {
    if (writing_ == nullptr) return status_;
    done_.acquire();
    writing_ = nullptr;
    if (background_error_ != 0 && status_.ok()) {
      status_ = ErrnoToStatus(background_error_, "write", path_);
    }
    return status_;
  }

  // Hands the full active buffer to the background thread and switches.
  Status StartBackgroundWrite() {
    RETURN_IF_ERROR(FinishBackgroundWrite());
    writing_ = staging_[active_].get();
    start_.release();
    active_ ^= 1;
    used_ = 0;
    return OkStatus();
  }

  // Writes everything staged: whole aligned blocks directly, then the tail
  // after dropping O_DIRECT (the file stays buffered from then on).
  Status Flush() {
    RETURN_IF_ERROR(FinishBackgroundWrite());
    if (used_ == 0) return status_;
    const char* data = staging_[active_].get();
    const size_t aligned = direct_ ? used_ / kDirectIoAlignment * kDirectIoAlignment : 0;
    int error = Write(data, aligned);
    if (error == 0 && aligned < used_) {
      if (direct_) error = DropDirect();
      if (error == 0) error = Write(data + aligned, used_ - aligned);
    }
    if (error != 0) return status_ = ErrnoToStatus(error, "write", path_);
    used_ = 0;
    return OkStatus();
  }

  int fd_;
  std::string path_;
  std::array<AlignedBuffer, 2> staging_;
  int active_ = 0;                            // the buffer being filled; the other may be in flight
  size_t used_ = 0;                           // bytes staged in the active buffer
  bool direct_ = true;                        // written only by the one write in flight
  Status status_;                             // sticky first error (or "closed")
  const char* writing_ = nullptr;             // the buffer of the write in flight
  int background_error_ = 0;                  // its errno
  std::binary_semaphore start_{0}, done_{0};  // order the two threads' accesses
  std::thread writer_{[this] { WriteInBackground(); }};  // last: starts once the rest exists
};

// The most reads in flight options may ask for (the ring's size).
constexpr size_t kMaxReadsInFlight = 16;
// A staging buffer's result while its read is in the kernel.
constexpr int64_t kPending = std::numeric_limits<int64_t>::min();

// Reads up to `n` bytes at `offset` (stopping early only at end of file);
// the byte count, or -errno.
int64_t ReadFully(int fd, char* out, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -errno;
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return static_cast<int64_t>(done);
}

// This thread's ring (when the kernel grants one) and staging buffers, kept
// across calls: on VMs a fresh 2 MiB buffer costs hundreds of page faults.
struct ReadQueue {
  ReadQueue() { has_ring = io_uring_queue_init(kMaxReadsInFlight, &ring, 0) == 0; }
  ~ReadQueue() {
    if (has_ring) io_uring_queue_exit(&ring);
  }
  // Reads `n` bytes at `at` into staging[slot]: at once with pread, or
  // submitted to the ring (result[slot] is kPending until it completes).
  Status Start(int fd, size_t slot, size_t n, uint64_t at, bool use_ring, const std::string& path) {
    if (!use_ring) {
      result[slot] = ReadFully(fd, staging[slot].get(), n, at);
      return OkStatus();
    }
    result[slot] = kPending;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);  // never null: depth <= ring size
    io_uring_prep_read(sqe, fd, staging[slot].get(), static_cast<unsigned>(n), at);
    io_uring_sqe_set_data64(sqe, slot);
    const int submitted = io_uring_submit(&ring);
    if (submitted < 0) return ErrnoToStatus(-submitted, "io_uring_submit (read)", path);
    ++in_kernel;
    return OkStatus();
  }
  // Takes one ring completion (they may arrive out of order).
  Status CollectOne(const std::string& path) {
    io_uring_cqe* cqe = nullptr;
    int rc = 0;
    while ((rc = io_uring_wait_cqe(&ring, &cqe)) == -EINTR) continue;
    if (rc != 0) return ErrnoToStatus(-rc, "io_uring_wait_cqe (read)", path);
    result[io_uring_cqe_get_data64(cqe)] = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    --in_kernel;
    return OkStatus();
  }

  io_uring ring{};
  bool has_ring = false;
  std::vector<AlignedBuffer> staging;
  std::vector<int64_t> result;  // per staging buffer: bytes read, -errno or kPending
  size_t in_kernel = 0;
};

}  // namespace

int WriteFully(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t written = ::write(fd, data, n);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) return errno;
    data += written;
    n -= static_cast<size_t>(written);
  }
  return 0;
}

StatusOr<std::unique_ptr<WritableFile>> OpenDirectWritableFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
  if (fd < 0) {
    if (errno == EINVAL) return std::unique_ptr<WritableFile>();
    return ErrnoToStatus(errno, "open for writing", path);
  }
  auto file = std::make_unique<DirectWritableFile>(fd, path);  // closes `fd` when it goes
  if (!file->has_buffers()) return ResourceExhaustedError("no write buffers for '" + path + "'");
  return std::unique_ptr<WritableFile>(std::move(file));
}

int OpenDirectReadDescriptor(const std::string& path) {
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
}

StatusOr<size_t> DirectRead(int fd, const std::string& path, uint64_t offset, size_t n, char* out,
                            uint32_t* crc, const UncachedReadOptions& options) {
  thread_local ReadQueue queue;
  if (n == 0) return size_t{0};
  const uint64_t start = offset / kDirectIoAlignment * kDirectIoAlignment;
  const size_t span = static_cast<size_t>(
      (offset + n + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment - start);
  const size_t count = (span + kStagingBytes - 1) / kStagingBytes;
  const bool ring = queue.has_ring && options.use_io_uring;
  const size_t depth =
      std::min(ring ? std::clamp<size_t>(options.reads_in_flight, 1, kMaxReadsInFlight) : 1, count);
  if (queue.staging.size() < depth) queue.staging.resize(depth);
  for (AlignedBuffer& buffer : queue.staging) {
    if (buffer == nullptr) buffer = AllocateStaging();
    if (buffer == nullptr) return ResourceExhaustedError("no read buffers for '" + path + "'");
  }
  queue.result.assign(depth, kPending);
  auto at = [&](size_t k) { return start + k * kStagingBytes; };
  auto want = [&](size_t k) { return std::min(kStagingBytes, span - k * kStagingBytes); };
  // Chunk k goes to staging buffer k % depth; once it has arrived and been
  // copied out (with its CRC), the buffer goes to chunk k + depth.
  Status failure;
  size_t done = 0;
  for (size_t k = 0; k < depth && failure.ok(); ++k) {
    failure = queue.Start(fd, k, want(k), at(k), ring, path);
  }
  for (size_t k = 0; k < count && failure.ok(); ++k) {
    int64_t& got = queue.result[k % depth];
    char* buffer = queue.staging[k % depth].get();
    while (got == kPending && failure.ok()) failure = queue.CollectOne(path);
    if (!failure.ok()) break;
    const bool short_read = got >= 0 && static_cast<size_t>(got) < want(k);
    if (short_read && static_cast<size_t>(got) % kDirectIoAlignment == 0) {  // maybe not yet EOF
      const int64_t rest = ReadFully(fd, buffer + got, want(k) - static_cast<size_t>(got),
                                     at(k) + static_cast<uint64_t>(got));
      got = rest < 0 ? rest : got + rest;
    }
    if (got == -EINVAL) failure = InvalidArgumentError("O_DIRECT read refused for '" + path + "'");
    if (got < 0 && failure.ok()) failure = ErrnoToStatus(static_cast<int>(-got), "read", path);
    if (!failure.ok()) break;
    const size_t skip = k == 0 ? static_cast<size_t>(offset - start) : 0;
    const size_t useful = std::min(std::max(static_cast<size_t>(got), skip) - skip, n - done);
    CopyWithCrc(out + done, buffer + skip, useful, crc);
    done += useful;
    if (static_cast<size_t>(got) < want(k)) break;  // end of file
    const size_t next = k + depth;
    if (next < count) failure = queue.Start(fd, next % depth, want(next), at(next), ring, path);
  }
  // No read may still be filling a staging buffer when the next call starts.
  while (queue.in_kernel > 0) RETURN_IF_ERROR(queue.CollectOne(path));
  RETURN_IF_ERROR(failure);
  return done;
}

}  // namespace shardtrain::storage
