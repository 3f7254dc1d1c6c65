// Communicator: the narrow collective interface the trainer uses (DESIGN.md §3).
//
// Implementations: LocalCommunicator (one rank, no-ops), MpiCommunicator (host
// buffers, Open MPI) and the NCCL communicator (device buffers, CUDA builds
// only). Every rank of the job must call the same collectives, in the same
// order, with the same count/dtype/root; a mismatch is undefined (usually a
// hang or an error Status). Calls are synchronous: when one returns OK the
// result is in the caller's buffer.
// Errors come back as Status, never abort.
//
// Thread-safety: a Communicator is thread-compatible. Calls on one object must
// not overlap; MPI requires them to come from the thread that initialized MPI.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/dtype.h"
#include "common/status.h"
#include "worker/comm/slice_reduction.h"

namespace shardtrain::comm {

class Communicator {
 public:
  virtual ~Communicator();

  // This process's rank in [0, world_size()).
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "local", "mpi" or "nccl".
  virtual std::string_view name() const = 0;
  // True when AllReduceSum/Broadcast take device memory (nccl); false for the
  // host communicators (mpi, local), to which a GradientReducer over device
  // gradients stages each bucket through pinned host memory.
  virtual bool sums_device_memory() const { return false; }
  // False when AllReduceSum/Broadcast never read or write the buffer (one
  // rank, LocalCommunicator): device gradients then need no staging and no
  // ordering at all.
  virtual bool touches_buffers() const { return true; }

  // In-place sum over ranks of `count` elements of `dtype` (float32, float64,
  // int64) at `data`. Host memory for mpi/local; device memory for nccl.
  // InvalidArgument for another dtype, a negative count or a null buffer with
  // count > 0 (checked before any communication, so every rank fails alike).
  virtual Status AllReduceSum(void* data, int64_t count, DType dtype) = 0;

  // Copies `bytes` bytes at `data` on rank `root` to `data` on every rank.
  // Same memory kind as AllReduceSum.
  virtual Status Broadcast(void* data, int64_t bytes, int root) = 0;

  // Collective (every rank, same count): `count` zeroed floats of memory that
  // this communicator's AllReduceSum sums fastest, owned by the communicator
  // and valid until it is destroyed, or null (OK) when it has no such memory
  // and the caller should keep its own. MpiCommunicator serves it from a
  // shared-memory window when all ranks share one node (single-copy sums); the
  // default returns null. InvalidArgument for a negative count.
  virtual StatusOr<float*> AllocateGradientBuffer(int64_t count);

  // The slice-owner reduction over buffers from AllocateGradientBuffer when
  // this communicator has one (MpiCommunicator with its shared-memory path),
  // else null (the default). Owned by the communicator. The same answer on
  // every rank.
  virtual SliceReduction* slice_reduction() { return nullptr; }

  // Returns once every rank has entered Barrier().
  virtual Status Barrier() = 0;

  // Sums `count` (at most kMaxHostScalars) doubles in HOST memory over ranks,
  // whatever the communicator's memory kind: device communicators stage them
  // through device memory. Used for the per-step scalars (loss sum, example
  // and correct counts). The default calls AllReduceSum.
  static constexpr int kMaxHostScalars = 16;
  virtual Status AllReduceSumHostScalars(double* values, int count);
};

// Checks the arguments of AllReduceSum/Broadcast the same way for every
// implementation (no communication).
Status ValidateAllReduceArgs(const void* data, int64_t count, DType dtype);
Status ValidateBroadcastArgs(const void* data, int64_t bytes, int root, int world_size);

}  // namespace shardtrain::comm
