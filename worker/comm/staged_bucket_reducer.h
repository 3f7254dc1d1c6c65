// StagedBucketReducer: sums gradient buckets that live in device memory over
// ranks with a HOST communicator (mpi), by staging each bucket through
// pinned host memory on the backend's communication stream. GradientReducer
// uses it when the backend's memory is not host-readable (CUDA, the strict
// device) and the communicator does not sum device memory itself.
//
// Ordering contract of one AllReduce (streams of kernels/device_buffer.h):
//   1. `backward_done` is recorded on kCompute when AllReduce is called, i.e.
//      after the backward the caller enqueued; kCommunication waits on it
//      (StreamWaitEvent), so no copy reads a gradient before it is written.
//   2. Bucket k is copied device -> staging[k % 2] on kCommunication and
//      `copied[k % 2]` is recorded after the copy. Bucket k + 1's copy is
//      enqueued before the host sums bucket k, so on an asynchronous backend
//      it overlaps bucket k's host allreduce (double buffering).
//   3. The host waits on `copied[k % 2]` (WaitEvent) before it reads the
//      staging buffer, sums it in place over ranks, then copies it back to the
//      bucket on kCommunication. Staging buffer k % 2 is next written by bucket
//      k + 2's copy, enqueued on the same stream after that copy back, so the
//      stream's order keeps the host and both copies off each other's data.
//   4. After the last bucket `reduced` is recorded on kCommunication and
//      kCompute waits on it (StreamWaitEvent): work the caller enqueues on
//      kCompute afterwards (the optimizer update) sees the sums. The host does
//      not wait for the copies back; their failures surface in the backend's
//      next CheckErrors/Synchronize/WaitEvent.
// Staging memory (two buffers of the largest bucket, one when there is one
// bucket) and the events are made once by Create: AllReduce allocates nothing.
//
// Thread-safety: thread-compatible; the backend and the communicator are
// driven from the calling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "kernels/backend.h"
#include "worker/comm/communicator.h"
#include "worker/comm/gradient_reducer.h"

namespace shardtrain::comm {

class StagedBucketReducer {
 public:
  // Staging for `buckets` (GradientReducer::PlanBuckets). `backend` must
  // outlive the reducer. ResourceExhausted naming "gradient staging bucket"
  // when pinned memory runs out.
  static StatusOr<std::unique_ptr<StagedBucketReducer>> Create(kernels::KernelBackend* backend,
                                                               const std::vector<Bucket>& buckets);

  // Sums device_grads' buckets over the ranks of `comm` in place, in the
  // order above. A failure names the bucket ("gradient bucket k of n: ...");
  // kCompute still waits on what was enqueued.
  Status AllReduce(Communicator& comm, float* device_grads, const std::vector<Bucket>& buckets);

 private:
  static constexpr int kSlots = 2;

  explicit StagedBucketReducer(kernels::KernelBackend* backend) : backend_(backend) {}
  // Enqueues bucket -> staging_[slot] on kCommunication and records copied_[slot].
  void StartCopyToHost(const float* device_grads, const Bucket& bucket, int slot);
  // Waits for staging_[slot], sums it over ranks, enqueues the copy back.
  Status ReduceStagedBucket(Communicator& comm, float* device_grads, const Bucket& bucket,
                            int slot);

  kernels::KernelBackend* backend_;
  std::vector<kernels::PinnedBuffer> staging_;  // kSlots, or 1 for a single bucket
  kernels::Event copied_[kSlots];
  kernels::Event backward_done_;
  kernels::Event reduced_;
};

}  // namespace shardtrain::comm
