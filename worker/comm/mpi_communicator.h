// MpiCommunicator: collectives over MPI on host buffers.
//
// Works on a duplicate of MPI_COMM_WORLD (so its traffic cannot match other
// MPI users' messages) with MPI_ERRORS_RETURN: every MPI failure comes back as
// a Status naming the call. Buffers larger than INT_MAX elements are sent in
// several calls. Must be destroyed before the MpiRuntime it came from, on
// every rank (the destructor frees shared windows collectively).
//
// Single-copy path: when every rank runs on one node (and
// SHARDTRAIN_SHM_ALLREDUCE is not 0), AllocateGradientBuffer() hands out
// memory in an MPI-3 shared window, and AllReduceSum() on a range inside it
// (every rank the same buffer, offset and count) runs SharedMemoryAllReduce
// instead of MPI_Allreduce: no messages, each rank reads and writes the
// buffer once. Any other buffer, and every multi-node job, takes the
// MPI_Allreduce path. Results on the fast path are bit-identical on all ranks.
//
// Thread-safety: thread-compatible; calls must come from the thread that
// initialized MPI (MPI_THREAD_FUNNELED) and must not overlap.
#pragma once

#include <mpi.h>

#include <memory>

#include "worker/comm/communicator.h"
#include "worker/comm/mpi_runtime.h"
#include "worker/comm/shared_memory_allreduce.h"

namespace shardtrain::comm {

class MpiCommunicator final : public Communicator {
 public:
  // `runtime` must be non-null and outlive the communicator.
  static StatusOr<std::unique_ptr<MpiCommunicator>> Create(MpiRuntime* runtime);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string_view name() const override { return "mpi"; }
  Status AllReduceSum(void* data, int64_t count, DType dtype) override;
  Status Broadcast(void* data, int64_t bytes, int root) override;
  Status Barrier() override;
  StatusOr<float*> AllocateGradientBuffer(int64_t count) override;
  SliceReduction* slice_reduction() override { return shared_.get(); }

  // True when AllocateGradientBuffer returns shared-window memory.
  bool shared_memory_enabled() const { return shared_ != nullptr; }

 private:
  MpiCommunicator(MPI_Comm comm, int rank, int world_size)
      : comm_(comm), rank_(rank), world_size_(world_size) {}

  MPI_Comm comm_;
  int rank_;
  int world_size_;
  std::unique_ptr<SharedMemoryAllReduce> shared_;  // null: MPI path only
};

}  // namespace shardtrain::comm
