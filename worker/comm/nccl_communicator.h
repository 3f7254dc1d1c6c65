// NCCL communicator: collectives on CUDA device buffers, one GPU per rank.
//
// Compiled only in CUDA builds where NCCL is found (SHARDTRAIN_HAVE_NCCL). The
// class lives in nccl_communicator.cc so that this header pulls in neither
// CUDA nor NCCL headers.
//
// Setup: each rank selects device = node-local rank (MpiRuntime::local_rank,
// from the launcher's environment), rank 0 creates the ncclUniqueId and
// broadcasts it over MPI, and every rank agrees (one MPI allreduce) that its
// device setup succeeded before ncclCommInitRank, so a rank without a usable
// GPU makes every rank fail instead of hanging the others.
//
// Collectives run on the communicator's own CUDA stream, created blocking, so
// they are ordered after work the caller queued on the legacy default stream;
// work on other streams must be complete before a call. AllReduceSum and
// Broadcast take device memory, or host memory (the control plane's and the
// checkpoint restore's buffers), which they stage through a device buffer of
// their own in chunks of kStagingBytes. Each call waits for its
// result, polling ncclCommGetAsyncError: a failed peer or transport aborts the
// NCCL communicator and returns a Status (every later call fails too).
//
// Thread-safety: thread-compatible; calls must not overlap.
#pragma once

#include <memory>

#include "worker/comm/communicator.h"
#include "worker/comm/mpi_runtime.h"

namespace shardtrain::comm {

// `mpi` may be null for a single process (world size 1, device 0); otherwise
// it must outlive the communicator. FailedPrecondition when no CUDA device is
// visible or the node-local rank has no device of its own.
StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(MpiRuntime* mpi);

}  // namespace shardtrain::comm
