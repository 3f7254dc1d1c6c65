// The O_DIRECT writer, and opening descriptors for DirectRead (contract in
// direct_io.h; the reader is direct_read.cc).
//
// The writer keeps the disk busy while the CPU copies: it fills one 2 MiB
// staging buffer, taking checksums as it copies, while a background write
// drains the other.
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

#include "storage/io/staging_buffer.h"

namespace shardtrain::storage {
namespace {

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

}  // namespace shardtrain::storage
