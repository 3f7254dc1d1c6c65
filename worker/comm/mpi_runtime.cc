// MpiRuntime: MPI_Init_thread/MPI_Finalize, ranks, node-local rank.
// Thread-safety: see mpi_runtime.h; the one-runtime guard is an atomic.
#include "worker/comm/mpi_runtime.h"

#include <mpi.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/logging.h"

namespace shardtrain::comm {
namespace {

std::atomic<bool> g_runtime_alive{false};

bool EnvSet(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0';
}

// Parses a non-negative integer environment variable; -1 when absent or bad.
int EnvInt(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || value[0] == '\0') return -1;
  char* end = nullptr;
  long parsed = std::strtol(value, &end, 10);
  if (*end != '\0' || parsed < 0 || parsed > 1 << 24) return -1;
  return static_cast<int>(parsed);
}

// True when the launcher put more ranks on this node than this process may
// run on (its affinity mask) and did not bind them, each to its own cores.
bool NodeOversubscribed() {
  const int local_size = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE");
  const char* bound = std::getenv("OMPI_MCA_orte_bound_at_launch");
  if (local_size <= 1 || (bound != nullptr && std::string(bound) == "1")) return false;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof(mask), &mask) != 0) return false;
  return local_size > CPU_COUNT(&mask);
}

}  // namespace

bool LaunchedByMpirun() {
  return EnvSet("OMPI_COMM_WORLD_SIZE") || EnvSet("PMI_SIZE") || EnvSet("PMIX_RANK");
}

Status MpiErrorToStatus(int error_code, std::string_view call) {
  if (error_code == MPI_SUCCESS) return OkStatus();
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(error_code, text, &length) != MPI_SUCCESS) {
    length = 0;
  }
  int error_class = MPI_ERR_UNKNOWN;
  if (MPI_Error_class(error_code, &error_class) != MPI_SUCCESS) error_class = MPI_ERR_UNKNOWN;
  std::string message = std::string(call) + " failed: " +
                        (length > 0 ? std::string(text, length) : std::string("unknown error")) +
                        " (MPI error " + std::to_string(error_code) + ")";
  switch (error_class) {
    case MPI_ERR_ARG:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_BUFFER:
    case MPI_ERR_ROOT:
    case MPI_ERR_OP:
    case MPI_ERR_COMM:
      return InvalidArgumentError(message);
    default:
      return UnavailableError(message);
  }
}

StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::Init() {
  int initialized = 0;
  int finalized = 0;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Initialized(&initialized), "MPI_Initialized"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Finalized(&finalized), "MPI_Finalized"));
  if (finalized) {
    return FailedPreconditionError("MPI was already finalized in this process; it cannot restart");
  }
  if (initialized || g_runtime_alive.exchange(true)) {
    return FailedPreconditionError("MPI is already initialized: one MpiRuntime per process");
  }
  // Our large MPI transfers are one-shot broadcasts of fresh buffers (restored
  // weights and optimizer slots, initial weights); gradients go through our own
  // shared window. Open MPI's single-copy path (CMA) pins the receiver's pages
  // on first use, which made those broadcasts several times slower than its
  // copy-in/copy-out path (docs/notes/checkpoint-io.md). A user's own setting wins.
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", /*overwrite=*/0);
  // Open MPI busy-polls while it waits for a message, and yields the core
  // only when mpirun itself knows the node is oversubscribed (--oversubscribe
  // past its slots), not when the slots it was given (--host h:4, a hostfile)
  // exceed the cores: then a waiting rank burns the time slice of the rank it
  // waits for. A user's own setting wins.
  if (NodeOversubscribed()) setenv("OMPI_MCA_mpi_yield_when_idle", "1", /*overwrite=*/0);
  int provided = MPI_THREAD_SINGLE;
  int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) {
    g_runtime_alive = false;
    return UnavailableError("MPI_Init_thread failed (MPI error " + std::to_string(rc) + ")");
  }
  // From here on the destructor finalizes MPI, whatever fails below.
  std::unique_ptr<MpiRuntime> runtime(new MpiRuntime());
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN),
                                   "MPI_Comm_set_errhandler"));
  if (provided < MPI_THREAD_FUNNELED) {
    return FailedPreconditionError("MPI_Init_thread provided thread level " +
                                   std::to_string(provided) +
                                   ", below the MPI_THREAD_FUNNELED shardtrain needs");
  }
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(MPI_COMM_WORLD, &runtime->rank_),
                                   "MPI_Comm_rank"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(MPI_COMM_WORLD, &runtime->world_size_),
                                   "MPI_Comm_size"));

  int local_rank = EnvInt("OMPI_COMM_WORLD_LOCAL_RANK");
  int local_size = EnvInt("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (local_rank >= 0 && local_size > local_rank) {
    runtime->local_rank_ = local_rank;
    runtime->local_size_ = local_size;
  } else {
    MPI_Comm node = MPI_COMM_NULL;
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, runtime->rank_, MPI_INFO_NULL,
                            &node),
        "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)"));
    Status status = MpiErrorToStatus(MPI_Comm_rank(node, &runtime->local_rank_), "MPI_Comm_rank");
    if (status.ok()) {
      status = MpiErrorToStatus(MPI_Comm_size(node, &runtime->local_size_), "MPI_Comm_size");
    }
    MPI_Comm_free(&node);
    RETURN_IF_ERROR(status);
  }

  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_dup(MPI_COMM_WORLD, &runtime->failure_comm_),
                                   "MPI_Comm_dup(failure agreement)"));
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Comm_set_errhandler(runtime->failure_comm_, MPI_ERRORS_RETURN),
      "MPI_Comm_set_errhandler(failure agreement)"));

  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  if (MPI_Get_library_version(version, &length) == MPI_SUCCESS) {
    std::string text(version, length);
    runtime->library_version_ = text.substr(0, text.find('\n'));
  }
  return runtime;
}

StatusOr<std::unique_ptr<MpiRuntime>> MpiRuntime::InitIfLaunchedByMpirun() {
  if (!LaunchedByMpirun()) return std::unique_ptr<MpiRuntime>();
  return Init();
}

MpiRuntime::~MpiRuntime() {
  if (failure_comm_ != MPI_COMM_NULL) MPI_Comm_free(&failure_comm_);
  int rc = MPI_Finalize();
  if (rc != MPI_SUCCESS) {
    LOG(WARNING) << MpiErrorToStatus(rc, "MPI_Finalize").ToString();
  }
  g_runtime_alive = false;
}

StatusOr<bool> MpiRuntime::EveryRank(bool value) {
  int mine = value ? 1 : 0, all = 0;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD),
                                   "MPI_Allreduce(every rank)"));
  return all != 0;
}

bool MpiRuntime::EveryRankFailed(std::chrono::milliseconds timeout) {
  if (world_size_ == 1) return true;
  if (failure_comm_ == MPI_COMM_NULL) return false;
  MPI_Request request = MPI_REQUEST_NULL;
  if (MPI_Ibarrier(failure_comm_, &request) != MPI_SUCCESS) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int done = 0;
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return false;
    if (done) return true;
    // The pending barrier is left behind: the caller aborts.
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void MpiRuntime::Abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return; make sure.
}

}  // namespace shardtrain::comm
