// MpiCommunicator: MPI_Allreduce(MPI_IN_PLACE)/MPI_Bcast/MPI_Barrier on a
// duplicated MPI_COMM_WORLD, plus the shared-window fast path for gradient
// buffers. Thread-safety: see mpi_communicator.h.
#include "worker/comm/mpi_communicator.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/logging.h"

namespace shardtrain::comm {
namespace {

// Largest element count passed to one MPI call (MPI counts are int).
constexpr int64_t kMaxElementsPerCall = int64_t{1} << 30;

// Calls `call(first, n)` for consecutive runs [first, first + n) covering
// [0, count), each at most kMaxElementsPerCall long; stops at the first error.
template <typename Call>
Status InRunsOfMpiCount(int64_t count, Call call) {
  for (int64_t done = 0; done < count;) {
    const int n = static_cast<int>(std::min(count - done, kMaxElementsPerCall));
    RETURN_IF_ERROR(call(done, n));
    done += n;
  }
  return OkStatus();
}

MPI_Datatype ToMpiType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kFloat64: return MPI_DOUBLE;
    case DType::kInt64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

}  // namespace

StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create(MpiRuntime* runtime) {
  if (runtime == nullptr) {
    return FailedPreconditionError(
        "the mpi communicator needs an initialized MPI runtime: launch with mpirun");
  }
  MPI_Comm comm = MPI_COMM_NULL;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "MPI_Comm_dup"));
  std::unique_ptr<MpiCommunicator> result(
      new MpiCommunicator(comm, runtime->rank(), runtime->world_size()));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN),
                                   "MPI_Comm_set_errhandler"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(comm, &result->rank_), "MPI_Comm_rank"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(comm, &result->world_size_), "MPI_Comm_size"));
  ASSIGN_OR_RETURN(result->shared_, SharedMemoryAllReduce::Create(comm));
  LOG(INFO) << "rank " << result->rank_ << " of " << result->world_size_ << ": "
            << runtime->local_size() << " rank(s) on this node; allreduce "
            << (result->shared_ != nullptr ? "in a shared-memory window" : "over MPI messages");
  return result;
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  shared_.reset();  // frees its windows and node communicator first
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

StatusOr<float*> MpiCommunicator::AllocateGradientBuffer(int64_t count) {
  if (count < 0) {
    return InvalidArgumentError("AllocateGradientBuffer: negative count " + std::to_string(count));
  }
  if (shared_ == nullptr || count == 0) return static_cast<float*>(nullptr);
  StatusOr<void*> buffer = shared_->Allocate(count * static_cast<int64_t>(sizeof(float)));
  if (!buffer.ok()) {
    return buffer.status().WithContext("allocating " + std::to_string(count) +
                                       " gradient floats in a shared-memory window");
  }
  return static_cast<float*>(*buffer);
}

Status MpiCommunicator::AllReduceSum(void* data, int64_t count, DType dtype) {
  RETURN_IF_ERROR(ValidateAllReduceArgs(data, count, dtype));
  const MPI_Datatype type = ToMpiType(dtype);
  const int64_t element_size = static_cast<int64_t>(DTypeSize(dtype));
  if (shared_ != nullptr && count > 0 && shared_->Contains(data, count * element_size)) {
    return shared_->AllReduceSum(data, count, dtype);
  }
  char* bytes = static_cast<char*>(data);
  return InRunsOfMpiCount(count, [&](int64_t first, int n) {
    return MpiErrorToStatus(
        MPI_Allreduce(MPI_IN_PLACE, bytes + first * element_size, n, type, MPI_SUM, comm_),
        "MPI_Allreduce(" + std::to_string(n) + " x " + std::string(DTypeName(dtype)) + ")");
  });
}

Status MpiCommunicator::Broadcast(void* data, int64_t bytes, int root) {
  RETURN_IF_ERROR(ValidateBroadcastArgs(data, bytes, root, world_size_));
  char* base = static_cast<char*>(data);
  return InRunsOfMpiCount(bytes, [&](int64_t first, int n) {
    return MpiErrorToStatus(
        MPI_Bcast(base + first, n, MPI_BYTE, root, comm_),
        "MPI_Bcast(" + std::to_string(n) + " bytes from rank " + std::to_string(root) + ")");
  });
}

Status MpiCommunicator::Barrier() {
  return MpiErrorToStatus(MPI_Barrier(comm_), "MPI_Barrier");
}

}  // namespace shardtrain::comm
