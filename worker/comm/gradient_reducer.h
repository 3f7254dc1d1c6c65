// GradientReducer: sums the flat gradient buffer and the step's scalars over
// ranks (DESIGN.md §3 "Collectives").
//
// The buffer of `num_floats` floats is reduced in buckets of at most
// `bucket_bytes` bytes, one AllReduceSum each; bucket count and boundaries are
// a pure function of (num_floats, bucket_bytes) (PlanBuckets). The default
// 25 MB keeps every call below 32 MiB, above which a single Open MPI 4.1
// MPI_Allreduce falls to 1.7-2.1 GB/s (docs/BENCHMARKS.md, "Allreduce on one
// node"). The loss sum, example count and correct count travel in one extra
// 3-double reduction (counts are exact in double up to 2^53). The result is a
// SUM: callers divide by the global example count, so a rank whose data ran
// out (0 examples, zero gradients) contributes nothing and the mean stays exact.
//
// Where the gradients live:
// - The constructor: memory the communicator sums (host for mpi/local, device
//   for nccl), passed straight to AllReduceSum, one call per bucket.
// - CreateForDevice(comm, backend, ...): device memory of `backend`. When the
//   backend's memory is host memory (host_reads_device_memory(), the CPU
//   backend), or the communicator never touches buffers (one rank, local),
//   this is the path above, with no events and no copies. With a host
//   communicator (mpi) over a device the host cannot read (CUDA, the strict
//   device), each bucket is staged through pinned host memory on
//   Stream::kCommunication, ordered by events: StagedBucketReducer
//   (staged_bucket_reducer.h) states that contract. In short: kCommunication
//   waits on an event recorded on kCompute when AllReduce is called (after the
//   backward), and kCompute waits on an event recorded on kCommunication after
//   the last copy back, so the caller enqueues the optimizer update on kCompute
//   right after AllReduce returns, without a host synchronization.
// - With a communicator that sums device memory itself (nccl) the host waits
//   on the `backward_done` event recorded on kCompute before the first bucket
//   (today's NCCL communicator runs on its own stream, which is not ordered
//   after the backend's non-blocking kCompute) and each call returns with its
//   sum complete. Next: the NCCL communicator enqueues on the backend's
//   kCommunication stream (CudaBackend::native_stream); then kCommunication
//   waits on `backward_done` (StreamWaitEvent, no host wait), the buckets'
//   ncclAllReduce calls follow on that stream without waiting, and kCompute
//   waits on a `reduced` event recorded after the last one, exactly as in the
//   staged path; launching bucket k once its layers' backward is done (one
//   event per bucket) is the step after that.
// The scalars are always host values.
//
// Thread-safety: thread-compatible, like the Communicator it uses.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "worker/comm/communicator.h"

namespace shardtrain::comm {

class StagedBucketReducer;

struct Bucket {
  int64_t offset = 0;  // first float
  int64_t count = 0;   // floats
  friend bool operator==(const Bucket&, const Bucket&) = default;
};

class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;

  // `comm` must outlive the reducer. A bucket_bytes below sizeof(float) is
  // treated as one float; a negative num_floats makes AllReduce fail.
  // Gradients in the communicator's memory.
  GradientReducer(Communicator* comm, int64_t num_floats,
                  int64_t bucket_bytes = kDefaultBucketBytes);
  // Gradients in `backend`'s device memory (see above); `comm` and `backend`
  // must outlive the reducer. Makes the staging buffers and events once:
  // ResourceExhausted naming "gradient staging bucket" when pinned memory runs
  // out; InvalidArgument for a null backend.
  static StatusOr<std::unique_ptr<GradientReducer>> CreateForDevice(
      Communicator* comm, kernels::KernelBackend* backend, int64_t num_floats,
      int64_t bucket_bytes = kDefaultBucketBytes);
  ~GradientReducer();
  GradientReducer(GradientReducer&&) noexcept;
  GradientReducer& operator=(GradientReducer&&) noexcept;

  // Sums grads[0, num_floats) and the three scalars over ranks, in place. Any
  // scalar pointer may be null (contributes 0, not written back). OutOfRange
  // when a summed count is not exact in double (beyond 2^53). A device
  // backend's errors (a copy, an event) come back naming the bucket.
  Status AllReduce(float* grads, double* loss_sum, int64_t* examples, int64_t* correct);
  // The scalars' part of AllReduce alone (for a caller that sums the
  // gradients another way, e.g. SliceReduction::ReduceAndUpdate).
  Status AllReduceScalars(double* loss_sum, int64_t* examples, int64_t* correct);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  int64_t num_floats() const { return num_floats_; }
  int64_t bucket_bytes() const { return bucket_bytes_; }

  // Buckets [offset, offset + count) covering [0, num_floats) in order, each
  // of max(1, bucket_bytes / 4) floats except a shorter last one. Empty for
  // num_floats <= 0.
  static std::vector<Bucket> PlanBuckets(int64_t num_floats, int64_t bucket_bytes);

 private:
  // The communicator's AllReduceSum on each bucket of `grads`.
  Status AllReduceBucketsInPlace(float* grads);
  // The host waits until the work enqueued on kCompute is done (nccl path).
  Status WaitForBackward();

  Communicator* comm_;
  int64_t num_floats_;
  int64_t bucket_bytes_;
  std::vector<Bucket> buckets_;
  // Device gradients over a host communicator: the staged path; else null.
  std::unique_ptr<StagedBucketReducer> staged_;
  // Device gradients summed by a device communicator: the backend whose
  // kCompute the host waits on (with backward_done_); else null.
  kernels::KernelBackend* wait_backend_ = nullptr;
  kernels::Event backward_done_;
};

}  // namespace shardtrain::comm
