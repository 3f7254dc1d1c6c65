// O_DIRECT writer and reader (contract in direct_io.h).
//
// Both directions keep the disk busy while the CPU copies: the writer fills
// one 2 MiB staging buffer while a background write drains the other, and the
// reader copies one 2 MiB chunk out while up to three more are being read.
// Checksums are taken while copying, in L2-sized pieces, so each byte crosses
// memory once.
#include "storage/io/direct_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/io/crc32c.h"

namespace shardtrain::storage {
namespace {

// Each write staging buffer (two) and each read chunk. Smaller pieces overlap
// the copy with the I/O more finely: restoring a 1.1 GB checkpoint took
// 0.53-0.64 s with 2 MiB reads against 0.61-0.99 s with 8 MiB and 1.0-1.5 s
// with 32 MiB, saving it 1.66-2.02 s against 1.78-2.57 s with 8 MiB
// (alternating runs on the VM of docs/BENCHMARKS.md).
constexpr size_t kStagingBytes = size_t{2} << 20;
// Direct reads in flight at once, each into its own chunk buffer. On the VM of
// docs/BENCHMARKS.md, restoring the 1.1 GB checkpoint on 2 ranks took
// 0.69-0.76 s with 4, 0.79-0.80 s with 2 (one read ahead while copying, as
// before) and 0.74-0.77 s with 8, in interleaved runs.
constexpr size_t kReadsInFlight = 4;
constexpr size_t kCopyPieceBytes = size_t{256} << 10;  // fits L2: checksum, then copy

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<char, FreeDeleter>;

AlignedBuffer AllocateAligned(size_t bytes) {
  return AlignedBuffer(static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, bytes)));
}

size_t RoundUp(uint64_t n) {
  return static_cast<size_t>((n + kDirectIoAlignment - 1) / kDirectIoAlignment *
                             kDirectIoAlignment);
}

// Copies `n` bytes and extends `*crc` (when not null) over them, piece by piece
// so the copy reads what the checksum just brought into cache.
void CopyWithCrc(char* to, const char* from, size_t n, uint32_t* crc) {
  for (size_t done = 0; done < n; done += kCopyPieceBytes) {
    const size_t piece = std::min(kCopyPieceBytes, n - done);
    if (crc != nullptr) *crc = Crc32cExtend(*crc, from + done, piece);
    std::memcpy(to + done, from + done, piece);
  }
}

// Reads up to `n` bytes at `offset` (stopping early only at end of file);
// the byte count, or -errno.
ssize_t ReadFully(int fd, char* out, size_t n, uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
    if (done % kDirectIoAlignment != 0) break;  // a partial block: end of file
  }
  return static_cast<ssize_t>(done);
}

// One background thread that runs one job at a time: Start hands it a job,
// Wait returns the job's result. A thread per job (std::async) costs more than
// a 2 MiB transfer on virtual machines, where thread stacks mean page faults
// and TLB shootdowns.
class IoThread {
 public:
  IoThread() : thread_([this] { Loop(); }) {}
  ~IoThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Precondition: no job pending (Wait was called for the previous one).
  void Start(std::function<int64_t()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = std::move(job);
      pending_ = true;
    }
    cv_.notify_all();
  }
  bool pending() const { return pending_; }
  // The result of the job started last (0 when none is pending).
  int64_t Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !pending_ || finished_; });
    const int64_t result = finished_ ? result_ : 0;
    pending_ = finished_ = false;
    return result;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return quit_ || (pending_ && !finished_); });
      if (quit_) return;
      std::function<int64_t()> job = std::move(job_);
      lock.unlock();
      const int64_t result = job();
      lock.lock();
      result_ = result;
      finished_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<int64_t()> job_;
  bool pending_ = false, finished_ = false, quit_ = false;
  int64_t result_ = 0;
  std::thread thread_;  // last: starts after the fields above exist
};

class DirectWritableFile : public WritableFile {
 public:
  DirectWritableFile(int fd, std::string path, AlignedBuffer first, AlignedBuffer second)
      : fd_(fd), path_(std::move(path)), staging_{std::move(first), std::move(second)} {}
  ~DirectWritableFile() override {
    if (fd_ >= 0) {
      Flush().IgnoreError();
      ::close(fd_);
    }
  }

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

  // Waits for the write in flight, if any; its failure becomes sticky.
  Status FinishBackgroundWrite() {
    if (io_ == nullptr || !io_->pending()) return status_;
    const int error = static_cast<int>(io_->Wait());
    if (error != 0 && status_.ok()) status_ = ErrnoToStatus(error, "write", path_);
    return status_;
  }

  // Hands the full active buffer to a background write and switches buffers.
  Status StartBackgroundWrite() {
    RETURN_IF_ERROR(FinishBackgroundWrite());
    if (io_ == nullptr) io_ = std::make_unique<IoThread>();
    const char* full = staging_[active_].get();
    io_->Start([this, full] { return static_cast<int64_t>(Write(full, kStagingBytes)); });
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
  int active_ = 0;      // the buffer being filled; the other may be in flight
  size_t used_ = 0;     // bytes staged in the active buffer
  bool direct_ = true;  // written only by the one write in flight
  Status status_;       // sticky first error (or "closed")
  std::unique_ptr<IoThread> io_;  // last: joined before the buffers go
};

}  // namespace

int WriteFully(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t written = ::write(fd, data, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
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
  AlignedBuffer first = AllocateAligned(kStagingBytes);
  AlignedBuffer second = AllocateAligned(kStagingBytes);
  if (first == nullptr || second == nullptr) {
    ::close(fd);
    return ResourceExhaustedError("cannot allocate the write buffers for '" + path + "'");
  }
  return std::unique_ptr<WritableFile>(
      new DirectWritableFile(fd, path, std::move(first), std::move(second)));
}

int OpenDirectReadDescriptor(const std::string& path) {
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
}

namespace {

// The staging buffers and reader threads of DirectRead, kept per calling
// thread and reused by every call: on virtual machines a fresh 2 MiB buffer
// costs hundreds of page faults and a thread start costs more than a 2 MiB
// read, which made reading a checkpoint in many small pieces slow.
struct ReadPipeline {
  std::vector<AlignedBuffer> staging;
  std::vector<std::unique_ptr<IoThread>> readers;  // after the buffers: joined before they go
};

ReadPipeline* PipelineOfThisThread() {
  thread_local ReadPipeline pipeline;
  if (pipeline.readers.empty()) {
    for (size_t i = 0; i < kReadsInFlight; ++i) {
      pipeline.staging.push_back(AllocateAligned(kStagingBytes));
      if (pipeline.staging.back() == nullptr) {
        pipeline.staging.clear();
        return nullptr;
      }
    }
    for (size_t i = 0; i < kReadsInFlight; ++i) {
      pipeline.readers.push_back(std::make_unique<IoThread>());
    }
  }
  return &pipeline;
}

}  // namespace

StatusOr<size_t> DirectRead(int fd, const std::string& path, uint64_t offset, size_t n,
                            char* out, uint32_t* crc) {
  // Chunk k covers [start + k * chunk, ...) of the aligned range around the
  // request and is read by reader k % depth into its own buffer; up to `depth`
  // chunks are in flight while the oldest is copied out.
  const uint64_t start = offset / kDirectIoAlignment * kDirectIoAlignment;
  const size_t span = RoundUp(offset + n) - static_cast<size_t>(start);
  const size_t chunk = std::min(kStagingBytes, span);
  const size_t chunks = (span + chunk - 1) / chunk;
  const size_t depth = std::min(kReadsInFlight, chunks);
  ReadPipeline* pipeline = PipelineOfThisThread();
  if (pipeline == nullptr) {
    return ResourceExhaustedError("cannot allocate the read buffers for '" + path + "'");
  }
  std::vector<AlignedBuffer>& staging = pipeline->staging;
  std::vector<std::unique_ptr<IoThread>>& readers = pipeline->readers;
  auto want_of = [&](size_t k) { return std::min(chunk, span - k * chunk); };
  auto start_chunk = [&](size_t k) {
    readers[k % depth]->Start([&, k] {
      return static_cast<int64_t>(ReadFully(fd, staging[k % depth].get(), want_of(k),
                                            start + k * chunk));
    });
  };
  // Every read started is waited for before returning, even on an early
  // return, so no reader still writes into a buffer the next call uses.
  size_t started = 0, waited = 0;
  auto drain = [&] {
    for (; waited < started; ++waited) readers[waited % depth]->Wait();
  };
  for (; started < depth; ++started) start_chunk(started);
  size_t done = 0;
  for (size_t k = 0; k < chunks; ++k) {
    const ssize_t got = static_cast<ssize_t>(readers[k % depth]->Wait());
    ++waited;
    if (got < 0) {
      drain();
      if (got == -EINVAL) return InvalidArgumentError("O_DIRECT read refused for '" + path + "'");
      return ErrnoToStatus(static_cast<int>(-got), "pread", path);
    }
    const size_t skip = k == 0 ? static_cast<size_t>(offset - start) : 0;
    if (static_cast<size_t>(got) <= skip) break;  // end of file
    const size_t useful = std::min(static_cast<size_t>(got) - skip, n - done);
    CopyWithCrc(out + done, staging[k % depth].get() + skip, useful, crc);
    done += useful;
    if (static_cast<size_t>(got) < want_of(k)) break;  // end of file
    if (k + depth < chunks) start_chunk(started++);
  }
  drain();
  return done;
}

}  // namespace shardtrain::storage
