// SliceReduction: a reduction in which each rank owns one slice of the
// reduced range and may transform its slice of the sum before everyone gets
// it ("reduce-scatter, update, all-gather" in one pass). The trainer uses it to
// run the optimizer once per float on its owner instead of on every rank.
//
// Implemented by SharedMemoryAllReduce (ranks of one node, buffers from
// Communicator::AllocateGradientBuffer); Communicator::slice_reduction()
// returns null where it is not available. No MPI types here, so the trainer
// can use it without MPI headers.
//
// Thread-safety: as the communicator that owns it (thread-compatible; calls
// from the thread that initialized MPI, never overlapping).
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"

namespace shardtrain::comm {

// Floats [begin, end) of a reduced range.
struct Slice {
  int64_t begin = 0;
  int64_t end = 0;
  friend bool operator==(const Slice&, const Slice&) = default;
};

// The slice rank `rank` of `size` owns in a range of `count` elements of
// `element_bytes` bytes: contiguous, in rank order, covering [0, count), with
// boundaries on 64-byte multiples from the start of the range (so two ranks
// rarely write one cache line). Pure function.
Slice OwnedSlice(int64_t count, int64_t element_bytes, int rank, int size);

class SliceReduction {
 public:
  // Called for consecutive chunks [first, first + n) of this rank's slice:
  // `sum` holds the chunk of the sum over ranks (in rank order); returns the n
  // floats every rank gets for the chunk (valid until the next call).
  using ChunkUpdate = std::function<const float*(int64_t first, int64_t n, const float* sum)>;

  virtual ~SliceReduction();

  // Collective over the node's ranks, same count everywhere: sums data[0,
  // count) over ranks slice by slice; each rank passes each chunk of its
  // OwnedSlice() through `update` and stores the result into every rank's
  // `data`. On return every rank's data[0, count) holds the updated values.
  // `data` must lie in a buffer from Communicator::AllocateGradientBuffer
  // (InvalidArgument otherwise, or when ranks pass different ranges).
  // `update` runs after every rank has entered the call and before any rank
  // returns, so it may write this rank's slice of other shared buffers.
  virtual Status ReduceAndUpdate(float* data, int64_t count, const ChunkUpdate& update) = 0;

  // Rank `peer`'s copy of the `count` floats at `mine` (this rank's, inside a
  // buffer from AllocateGradientBuffer), mapped here for reading; null when
  // `mine` is not inside such a buffer. Local, no communication.
  virtual const float* PeerCopy(const float* mine, int64_t count, int peer) const = 0;

  virtual int rank() const = 0;
  virtual int size() const = 0;
};

}  // namespace shardtrain::comm
