// DirectRead, DirectReadsInFlight and DirectReadIdleWork (contract in
// direct_io.h).
//
// Reads go through one io_uring per calling thread: up to
// DirectReadsInFlight::OfThisThread() chunks are in the kernel at once, each
// into its own staging chunk, while the caller copies the oldest out (taking
// its CRC); each copied chunk's buffer is handed straight back to the kernel
// for the chunk that many further on. There are no reader threads: on the
// 2-core VM of docs/BENCHMARKS.md, four reader threads per rank competed with
// the ranks for the cores, and reading the 1.1 GB checkpoint file took median
// 0.40 s against 0.31 s with the ring (interleaved runs right after dropping
// the page cache). A lone reader keeps 8 chunks in flight: 1-rank restores
// took median 0.60 s against 0.65 s with 4 (7 interleaved pairs), then 0.66 s
// against 0.72 s (6 more, faster in all 6).
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "storage/io/direct_io.h"
#include "storage/io/staging_buffer.h"

namespace shardtrain::storage {
namespace {

thread_local size_t reads_in_flight = kMaxDirectReadsInFlight;

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

// This thread's ring (when the kernel grants one) and staging chunks, reused
// by every call: on virtual machines a fresh 2 MiB buffer costs hundreds of
// page faults.
struct ReadQueue {
  ReadQueue() {
    const char* off = std::getenv("SHARDTRAIN_NO_IO_URING");
    has_ring = (off == nullptr || *off == '\0') &&
               io_uring_queue_init(2 * kMaxDirectReadsInFlight, &ring, 0) == 0;
  }
  ~ReadQueue() {
    if (has_ring) io_uring_queue_exit(&ring);
  }
  ReadQueue(const ReadQueue&) = delete;
  ReadQueue& operator=(const ReadQueue&) = delete;

  // At least `count` staging chunks; false when memory ran out.
  bool EnsureStaging(size_t count) {
    while (staging.size() < count) {
      AlignedBuffer chunk = AllocateAligned(kStagingBytes);
      if (chunk == nullptr) return false;
      staging.push_back(std::move(chunk));
    }
    return true;
  }

  io_uring ring{};
  bool has_ring = false;
  std::vector<AlignedBuffer> staging;
};

thread_local const DirectReadIdleWork* innermost_idle_work = nullptr;

// The aligned chunks around one request: chunk k covers
// [start + k * chunk, start + k * chunk + want(k)).
struct ChunkPlan {
  ChunkPlan(uint64_t offset, size_t n)
      : start(offset / kDirectIoAlignment * kDirectIoAlignment),
        span(RoundUpToBlock(offset + n) - static_cast<size_t>(start)),
        chunk(std::min(kStagingBytes, span)),
        count(span == 0 ? 0 : (span + chunk - 1) / chunk) {}
  size_t want(size_t k) const { return std::min(chunk, span - k * chunk); }
  uint64_t at(size_t k) const { return start + k * chunk; }

  uint64_t start;
  size_t span;
  size_t chunk;
  size_t count;
};

// Copies the useful part of chunk `k` (which returned `got` bytes) to `out`,
// advancing `*done`; false at end of file (nothing more to read after it).
bool TakeChunk(const ChunkPlan& plan, size_t k, size_t got, const char* chunk_data, uint64_t offset,
               size_t n, char* out, size_t* done, uint32_t* crc) {
  const size_t skip = k == 0 ? static_cast<size_t>(offset - plan.start) : 0;
  if (got <= skip) return false;
  const size_t useful = std::min(got - skip, n - *done);
  CopyWithCrc(out + *done, chunk_data + skip, useful, crc);
  *done += useful;
  return got == plan.want(k);
}

Status ReadError(int error, const std::string& path) {
  if (error == EINVAL) return InvalidArgumentError("O_DIRECT read refused for '" + path + "'");
  return ErrnoToStatus(error, "read", path);
}

// The path without io_uring: one chunk at a time.
StatusOr<size_t> ReadChunksOneByOne(ReadQueue& queue, int fd, const std::string& path,
                                    uint64_t offset, size_t n, char* out, uint32_t* crc) {
  const ChunkPlan plan(offset, n);
  char* staging = queue.staging[0].get();
  size_t done = 0;
  for (size_t k = 0; k < plan.count; ++k) {
    const ssize_t got = ReadFully(fd, staging, plan.want(k), plan.at(k));
    if (got < 0) return ReadError(static_cast<int>(-got), path);
    if (!TakeChunk(plan, k, static_cast<size_t>(got), staging, offset, n, out, &done, crc)) break;
  }
  return done;
}

// The io_uring path. Chunk k goes to staging buffer k % depth; the kernel's
// results are collected by buffer, as they may complete out of order.
StatusOr<size_t> ReadChunksThroughRing(ReadQueue& queue, int fd, const std::string& path,
                                       uint64_t offset, size_t n, char* out, uint32_t* crc) {
  const ChunkPlan plan(offset, n);
  const size_t depth = std::min(reads_in_flight, plan.count);
  std::vector<int> result(depth, 0);
  std::vector<bool> arrived(depth, false);
  size_t in_kernel = 0;
  Status failure;

  auto submit = [&](size_t k) {
    io_uring_sqe* sqe = io_uring_get_sqe(&queue.ring);  // never null: the ring has 2x depth
    io_uring_prep_read(sqe, fd, queue.staging[k % depth].get(), static_cast<unsigned>(plan.want(k)),
                       plan.at(k));
    io_uring_sqe_set_data64(sqe, k % depth);
    arrived[k % depth] = false;
    const int submitted = io_uring_submit(&queue.ring);
    if (submitted < 0) return ErrnoToStatus(-submitted, "io_uring_submit (read)", path);
    ++in_kernel;
    return OkStatus();
  };
  // Takes one completion, running the idle work while none is there.
  const std::function<bool()>* idle = DirectReadIdleWork::OfThisThread();
  auto collect_one = [&]() -> Status {
    io_uring_cqe* cqe = nullptr;
    while (true) {
      const int rc = idle != nullptr ? io_uring_peek_cqe(&queue.ring, &cqe)
                                     : io_uring_wait_cqe(&queue.ring, &cqe);
      if (rc == 0) break;
      if (rc == -EAGAIN && idle != nullptr) {
        if (!(*idle)()) idle = nullptr;
        continue;
      }
      if (rc != -EINTR) return ErrnoToStatus(-rc, "io_uring_wait_cqe (read)", path);
    }
    const size_t slot = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
    result[slot] = cqe->res;
    arrived[slot] = true;
    io_uring_cqe_seen(&queue.ring, cqe);
    --in_kernel;
    return OkStatus();
  };

  size_t done = 0;
  for (size_t k = 0; k < depth && failure.ok(); ++k) failure = submit(k);
  for (size_t k = 0; k < plan.count && failure.ok(); ++k) {
    const size_t slot = k % depth;
    while (!arrived[slot] && failure.ok()) failure = collect_one();
    if (!failure.ok()) break;
    if (result[slot] < 0) {
      failure = ReadError(-result[slot], path);
      break;
    }
    size_t got = static_cast<size_t>(result[slot]);
    if (got < plan.want(k) && got % kDirectIoAlignment == 0) {  // short, maybe not end of file
      const ssize_t rest =
          ReadFully(fd, queue.staging[slot].get() + got, plan.want(k) - got, plan.at(k) + got);
      if (rest < 0) {
        failure = ReadError(static_cast<int>(-rest), path);
        break;
      }
      got += static_cast<size_t>(rest);
    }
    if (!TakeChunk(plan, k, got, queue.staging[slot].get(), offset, n, out, &done, crc)) {
      break;
    }
    if (k + depth < plan.count) failure = submit(k + depth);
  }
  // No read may still be filling a staging buffer when the next call starts.
  idle = nullptr;
  while (in_kernel > 0) {
    const Status drained = collect_one();
    if (!drained.ok()) return drained;  // the ring is unusable; so is this thread's reading
  }
  if (!failure.ok()) return failure;
  return done;
}

}  // namespace

StatusOr<size_t> DirectRead(int fd, const std::string& path, uint64_t offset, size_t n, char* out,
                            uint32_t* crc) {
  thread_local ReadQueue queue;
  if (n == 0) return size_t{0};
  if (!queue.EnsureStaging(queue.has_ring ? reads_in_flight : 1)) {
    return ResourceExhaustedError("cannot allocate the read buffers for '" + path + "'");
  }
  if (queue.has_ring) return ReadChunksThroughRing(queue, fd, path, offset, n, out, crc);
  return ReadChunksOneByOne(queue, fd, path, offset, n, out, crc);
}

DirectReadsInFlight::DirectReadsInFlight(size_t reads) : outer_(reads_in_flight) {
  reads_in_flight = std::clamp<size_t>(reads, 1, kMaxDirectReadsInFlight);
}

DirectReadsInFlight::~DirectReadsInFlight() { reads_in_flight = outer_; }

size_t DirectReadsInFlight::OfThisThread() { return reads_in_flight; }

DirectReadIdleWork::DirectReadIdleWork(std::function<bool()> work)
    : work_(std::move(work)), outer_(innermost_idle_work) {
  innermost_idle_work = this;
}

DirectReadIdleWork::~DirectReadIdleWork() { innermost_idle_work = outer_; }

const std::function<bool()>* DirectReadIdleWork::OfThisThread() {
  return innermost_idle_work != nullptr ? &innermost_idle_work->work_ : nullptr;
}

}  // namespace shardtrain::storage
