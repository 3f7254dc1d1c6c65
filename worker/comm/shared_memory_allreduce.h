// SharedMemoryAllReduce: single-copy allreduce for ranks that all share one
// node, over MPI-3 shared-memory windows (MPI_Win_allocate_shared).
//
// What it is. Allocate() hands out buffers that live in a shared window: every
// rank gets its own segment, and every rank can load/store every other rank's
// segment directly. AllReduceSum() on a buffer inside such a segment runs
// without MPI messages:
//   1. each rank publishes (buffer, byte offset, count, dtype) and arrives at a
//      shared-memory barrier (one monotonic counter per rank);
//   2. the element range is cut into one contiguous slice per rank (boundaries
//      on 64-byte multiples from the start of the range); rank r, in chunks of
//      8 KiB, sums slice r over ALL ranks' segments in rank order
//      (((x0 + x1) + x2) + ...) into an L1-resident temporary and stores the
//      result into slice r of EVERY rank's segment ("push");
//   3. each rank arrives at a second barrier; once every rank is there, every
//      rank's segment holds every slice of the sum.
// Per rank that is `count` elements read and `count` written, the traffic of a
// memcpy of the buffer. ReduceAndUpdate() (SliceReduction) is the same
// protocol with step 2 storing update(chunk of the sum) instead of the sum. The sum of each element is computed once, by its slice
// owner, in a fixed order, so every rank gets bit-identical results, and
// integer-valued float sums are exact. Nobody reads a slice another rank
// writes during the call (rank r reads and writes only slice r of each
// segment), so no per-chunk synchronization is needed; the second barrier
// keeps a rank from returning (and overwriting its segment) while peers still
// push into it.
//
// Ownership. The object owns its windows (and the node communicator); buffers
// from Allocate() stay valid until it is destroyed. The destructor frees the
// windows (MPI_Win_free is collective: destroy it on every rank, before
// MPI_Finalize), except after a peer was found dead, when they are leaked.
//
// Contract. Create(), Allocate() and AllReduceSum() are collective over the
// ranks of the communicator given to Create(): every rank calls them in the
// same order with the same arguments, and for AllReduceSum the same buffer
// (from the same Allocate call) at the same offset. Published descriptors are
// compared after the first barrier, so a rank that passes a different count,
// dtype or offset makes every rank return InvalidArgument; a rank that calls
// something else instead (e.g. MPI_Allreduce) hangs the job, as with any
// mismatched collective. Waiting ranks spin briefly, then sched_yield; when
// the node's ranks outnumber the CPUs of their affinity masks (oversubscribed)
// they sleep on a futex in the awaited peer's control block at once instead,
// and the peer wakes them when it arrives, so a waiting rank never takes the
// time slice the rank it waits for needs. Either way they check every ~100 ms
// that the awaited peer process still exists and return Unavailable naming it
// if not (a stopped peer is left to the job's heartbeat). Memory ordering:
// the counters are accessed with acquire/release atomics on the shared
// mapping (MPI_WIN_UNIFIED; Open MPI's shared windows are plain mmaps).
//
// Thread-safety: thread-compatible; calls must come from the thread that
// initialized MPI and must not overlap.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/dtype.h"
#include "common/status.h"
#include "worker/comm/slice_reduction.h"

namespace shardtrain::comm {

class SharedMemoryAllReduce final : public SliceReduction {
 public:
  // Collective over `comm` (which must outlive the object). Returns null (and
  // OK) when the fast path does not apply on some rank: fewer than 2 ranks,
  // ranks on more than one node, or SHARDTRAIN_SHM_ALLREDUCE=0 in some rank's
  // environment. Every rank gets the same answer.
  static StatusOr<std::unique_ptr<SharedMemoryAllReduce>> Create(MPI_Comm comm);
  ~SharedMemoryAllReduce();
  SharedMemoryAllReduce(const SharedMemoryAllReduce&) = delete;
  SharedMemoryAllReduce& operator=(const SharedMemoryAllReduce&) = delete;

  // Collective. A new shared window with a zeroed segment of `bytes` bytes
  // (page-aligned, touched first by this rank) per rank; returns this rank's
  // segment. InvalidArgument for bytes <= 0.
  StatusOr<void*> Allocate(int64_t bytes);

  // True when [data, data + bytes) lies inside this rank's segment of a
  // buffer from Allocate(). Local, no communication.
  bool Contains(const void* data, int64_t bytes) const;

  // Collective in-place sum of `count` elements of `dtype` (float32, float64,
  // int64) at `data`, which must satisfy Contains(). count 0 returns at once.
  // Arguments are assumed checked by ValidateAllReduceArgs.
  Status AllReduceSum(void* data, int64_t count, DType dtype);

  // SliceReduction: the same protocol as AllReduceSum on float32, with each
  // chunk of this rank's slice passed through `update` before the push.
  Status ReduceAndUpdate(float* data, int64_t count, const ChunkUpdate& update) override;
  const float* PeerCopy(const float* mine, int64_t count, int peer) const override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

 private:
  struct ControlSlot;
  struct Buffer {
    MPI_Win win = MPI_WIN_NULL;
    int64_t bytes = 0;
    std::vector<char*> bases;  // every rank's segment, mapped here
  };

  SharedMemoryAllReduce(MPI_Comm node_comm, int rank, int size)
      : node_comm_(node_comm), rank_(rank), size_(size) {}

  // Index into buffers_ of the buffer whose segment (this rank's) holds
  // [data, data + bytes), or -1.
  int64_t FindBuffer(const void* data, int64_t bytes) const;
  // The first barrier of a call on buffer `index`: publishes the call's
  // descriptor, waits for every rank and compares descriptors. A mismatch
  // comes back in *mismatch (InvalidArgument); the caller must still EndCall().
  Status BeginCall(int64_t index, int64_t offset, int64_t count, DType dtype, Status* mismatch);
  // The second barrier: every rank has finished writing into every segment.
  Status EndCall() { return ArriveAndWait(2 * calls_); }
  ControlSlot* slot(int rank) const { return slots_[static_cast<size_t>(rank)]; }
  // Publishes `value` as this rank's counter (waking peers asleep on it) and
  // waits until every rank's counter is at least `value`.
  Status ArriveAndWait(uint64_t value);
  // Waits until rank p's counter is at least `value`: spins, then yields the
  // core (sched_yield), or sleeps on p's futex when oversubscribed_.
  Status WaitForPeer(int p, uint64_t value);

  MPI_Comm node_comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  MPI_Win control_win_ = MPI_WIN_NULL;
  std::vector<ControlSlot*> slots_;
  std::vector<int64_t> pids_;  // every rank's process id, for liveness checks
  int64_t streaming_bytes_ = 0;  // see StreamingThreshold() in the .cc
  bool check_liveness_ = false;
  bool oversubscribed_ = false;  // the node's ranks outnumber its CPUs
  bool broken_ = false;  // a peer died: later calls fail, windows are leaked
  uint64_t calls_ = 0;   // fast-path calls so far (the same on every rank)
  std::vector<Buffer> buffers_;
};

}  // namespace shardtrain::comm
