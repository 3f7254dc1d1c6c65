// MpiRuntime: owns MPI initialization for the process (RAII).
//
// Init() calls MPI_Init_thread asking for MPI_THREAD_FUNNELED (collectives
// come from the main thread only; helper threads may exist) and fails unless
// at least that level is provided; it sets MPI_ERRORS_RETURN on
// MPI_COMM_WORLD, so MPI failures come back as Status instead of killing the
// process. The destructor calls MPI_Finalize; every MpiCommunicator made from
// the runtime must be destroyed before it. At most one MpiRuntime per process,
// and MPI cannot be initialized again after it is finalized.
//
// A plain `shardtrain train` (not under mpirun) need not initialize MPI at all:
// use LaunchedByMpirun() / InitIfLaunchedByMpirun().
//
// Thread-safety: the accessors are const and safe from any thread; Init, the
// destructor and Abort belong to the main thread.
#pragma once

#include <mpi.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace shardtrain::comm {

// True when the launcher's environment is present: OMPI_COMM_WORLD_SIZE
// (Open MPI), PMI_SIZE (MPICH/Hydra, Slurm PMI) or PMIX_RANK (PMIx).
bool LaunchedByMpirun();

// Turns an MPI error code returned by `call` into a Status whose message has
// the call and MPI_Error_string's text. MPI_SUCCESS gives OK. Argument-class
// errors map to InvalidArgument, everything else to Unavailable (usually a
// peer that died or a broken transport).
Status MpiErrorToStatus(int error_code, std::string_view call);

class MpiRuntime {
 public:
  static StatusOr<std::unique_ptr<MpiRuntime>> Init();
  // Init() when LaunchedByMpirun(); otherwise OK with a null pointer.
  static StatusOr<std::unique_ptr<MpiRuntime>> InitIfLaunchedByMpirun();

  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  // Rank among the processes on this node (selects the GPU) and their count.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, ...".
  const std::string& library_version() const { return library_version_; }

  // Collective over MPI_COMM_WORLD: true when `value` is true on every rank.
  // For choices every rank must make alike before any communicator exists
  // (the training device: each rank says whether it can use CUDA).
  StatusOr<bool> EveryRank(bool value);

  // For a rank that failed: true when every rank of the job calls this too
  // within `timeout` (a failure all of them saw, e.g. one they agreed on or
  // one computed from reduced values), so each can return its error and
  // finalize MPI; false when some rank does not (it still runs, waits in a
  // collective, or died), and then the caller must Abort. A non-blocking
  // barrier on a communicator of its own: it never blocks past `timeout`.
  bool EveryRankFailed(std::chrono::milliseconds timeout);

  // Ends every rank of the job with `exit_code` (MPI_Abort). For a rank that
  // must exit while others may be blocked in a collective with it.
  [[noreturn]] void Abort(int exit_code);

 private:
  MpiRuntime() = default;

  int rank_ = 0;
  int world_size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::string library_version_;
  MPI_Comm failure_comm_ = MPI_COMM_NULL;  // EveryRankFailed's own communicator
};

}  // namespace shardtrain::comm
