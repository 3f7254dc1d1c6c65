// CreateCommunicator: picks and builds the Communicator for `--collective`.
//
//   auto  world size 1 -> local (a sum over one rank is a no-op, on any memory);
//         CUDA device  -> nccl (when built with NCCL; otherwise FailedPrecondition);
//         CPU device   -> mpi.
//   mpi   host memory; with a CUDA device the trainer's GradientReducer stages
//         each bucket through pinned host memory. Needs an MpiRuntime
//         (launch under mpirun).
//   nccl  needs a CUDA build with NCCL and a CUDA device, else FailedPrecondition
//         saying which is missing.
//   local refuses a world size above 1 (ranks would train separate models).
// Anything else is InvalidArgument. Every message says why and what to use.
//
// Thread-safety: call from the main thread (it may make MPI/NCCL calls).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "worker/comm/communicator.h"
#include "worker/comm/mpi_runtime.h"

namespace shardtrain::comm {

// `mpi` may be null when the process was not launched by mpirun (world size
// 1); otherwise it must outlive the returned communicator.
StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(const std::string& collective,
                                                           bool device_is_cuda, MpiRuntime* mpi);

// True when this binary was built with the NCCL communicator.
bool NcclCompiledIn();

}  // namespace shardtrain::comm
