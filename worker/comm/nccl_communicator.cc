// NcclCommunicator: ncclAllReduce/ncclBroadcast on a private CUDA stream.
// Thread-safety: see nccl_communicator.h.
#include "worker/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

namespace shardtrain::comm {
namespace {

Status CudaToStatus(cudaError_t error, const std::string& call) {
  if (error == cudaSuccess) return OkStatus();
  std::string message = call + " failed: " + cudaGetErrorName(error) + " (" +
                        cudaGetErrorString(error) + ")";
  if (error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver) {
    return FailedPreconditionError(message + "; the nccl collective needs a CUDA device");
  }
  if (error == cudaErrorMemoryAllocation) return ResourceExhaustedError(message);
  return InternalError(message);
}

Status NcclToStatus(ncclResult_t result, const std::string& call, ncclComm_t comm) {
  if (result == ncclSuccess) return OkStatus();
  std::string message = call + " failed: " + ncclGetErrorString(result);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && last[0] != '\0') message += std::string(" (") + last + ")";
  switch (result) {
    case ncclInvalidArgument:
    case ncclInvalidUsage:
      return InvalidArgumentError(message);
    case ncclSystemError:
    case ncclRemoteError:
      return UnavailableError(message);
    default:
      return InternalError(message);
  }
}

ncclDataType_t ToNcclType(DType dtype) {
  switch (dtype) {
    case DType::kFloat64: return ncclFloat64;
    case DType::kInt64: return ncclInt64;
    case DType::kFloat32:
    default: return ncclFloat32;
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(int rank, int world_size) : rank_(rank), world_size_(world_size) {}
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (scratch_ != nullptr) cudaFree(scratch_);
    if (staging_ != nullptr) cudaFree(staging_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Creates the stream, the scratch and the staging buffer on the current
  // device (already set), before the ranks agree that every device is ready.
  Status InitDeviceResources() {
    RETURN_IF_ERROR(CudaToStatus(cudaStreamCreate(&stream_), "cudaStreamCreate"));
    RETURN_IF_ERROR(CudaToStatus(cudaMalloc(&scratch_, sizeof(double) * kMaxHostScalars),
                                 "cudaMalloc(scratch)"));
    return CudaToStatus(cudaMalloc(&staging_, kStagingBytes),
                        "cudaMalloc(nccl staging, " + std::to_string(kStagingBytes) + " bytes)");
  }
  Status InitComm(const ncclUniqueId& id) {
    return NcclToStatus(ncclCommInitRank(&comm_, world_size_, id, rank_),
                        "ncclCommInitRank(rank " + std::to_string(rank_) + " of " +
                            std::to_string(world_size_) + ")",
                        nullptr);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string_view name() const override { return "nccl"; }
  bool sums_device_memory() const override { return true; }

  Status AllReduceSum(void* data, int64_t count, DType dtype) override {
    RETURN_IF_ERROR(ValidateAllReduceArgs(data, count, dtype));
    RETURN_IF_ERROR(CheckUsable());
    if (count == 0) return OkStatus();
    const ncclDataType_t type = ToNcclType(dtype);
    auto sum = [&](void* device, int64_t elements) {
      return ncclAllReduce(device, device, static_cast<size_t>(elements), type, ncclSum, comm_,
                           stream_);
    };
    if (!IsDeviceMemory(data))
      return Staged(data, count, static_cast<int64_t>(DTypeSize(dtype)), "ncclAllReduce", sum);
    RETURN_IF_ERROR(NcclToStatus(sum(data, count), "ncclAllReduce", comm_));
    return Wait("ncclAllReduce");
  }

  Status Broadcast(void* data, int64_t bytes, int root) override {
    RETURN_IF_ERROR(ValidateBroadcastArgs(data, bytes, root, world_size_));
    RETURN_IF_ERROR(CheckUsable());
    if (bytes == 0) return OkStatus();
    auto broadcast = [&](void* device, int64_t n) {
      return ncclBroadcast(device, device, static_cast<size_t>(n), ncclUint8, root, comm_, stream_);
    };
    if (!IsDeviceMemory(data)) return Staged(data, bytes, 1, "ncclBroadcast", broadcast);
    RETURN_IF_ERROR(NcclToStatus(broadcast(data, bytes), "ncclBroadcast", comm_));
    return Wait("ncclBroadcast");
  }

  Status Barrier() override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(NcclToStatus(
        ncclAllReduce(scratch_, scratch_, 1, ncclFloat64, ncclSum, comm_, stream_),
        "ncclAllReduce(barrier)", comm_));
    return Wait("ncclAllReduce(barrier)");
  }

  Status AllReduceSumHostScalars(double* values, int count) override {
    if (count < 0 || count > kMaxHostScalars || (count > 0 && values == nullptr)) {
      return InvalidArgumentError("AllReduceSumHostScalars: bad count " + std::to_string(count));
    }
    RETURN_IF_ERROR(CheckUsable());
    if (count == 0) return OkStatus();
    const size_t bytes = sizeof(double) * count;
    RETURN_IF_ERROR(CudaToStatus(
        cudaMemcpyAsync(scratch_, values, bytes, cudaMemcpyHostToDevice, stream_),
        "cudaMemcpyAsync(scalars to device)"));
    RETURN_IF_ERROR(NcclToStatus(
        ncclAllReduce(scratch_, scratch_, count, ncclFloat64, ncclSum, comm_, stream_),
        "ncclAllReduce(scalars)", comm_));
    RETURN_IF_ERROR(CudaToStatus(
        cudaMemcpyAsync(values, scratch_, bytes, cudaMemcpyDeviceToHost, stream_),
        "cudaMemcpyAsync(scalars to host)"));
    return Wait("ncclAllReduce(scalars)");
  }

 private:
  static constexpr int64_t kStagingBytes = int64_t{4} << 20;
  using Collective = std::function<ncclResult_t(void* device, int64_t elements)>;

  // Whether `data` is memory NCCL reads (device or managed), not host memory.
  static bool IsDeviceMemory(const void* data) {
    cudaPointerAttributes attributes{};
    if (cudaPointerGetAttributes(&attributes, data) != cudaSuccess) {
      cudaGetLastError();  // an unregistered host pointer on older runtimes
      return false;
    }
    return attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged;
  }

  // `collective` over host memory `data` (`count` elements of
  // `element_bytes`), chunk by chunk through the staging buffer: copy in, run,
  // copy back, wait. Every rank makes the same calls (same sizes).
  Status Staged(void* data, int64_t count, int64_t element_bytes, const std::string& what,
                const Collective& collective) {
    char* host = static_cast<char*>(data);
    const int64_t per_chunk = kStagingBytes / element_bytes;
    for (int64_t first = 0; first < count; first += per_chunk) {
      const int64_t elements = std::min(per_chunk, count - first);
      char* chunk = host + first * element_bytes;
      const size_t bytes = static_cast<size_t>(elements * element_bytes);
      RETURN_IF_ERROR(
          CudaToStatus(cudaMemcpyAsync(staging_, chunk, bytes, cudaMemcpyHostToDevice, stream_),
                       "cudaMemcpyAsync(" + what + " staging in)"));
      RETURN_IF_ERROR(NcclToStatus(collective(staging_, elements), what + " (staged)", comm_));
      RETURN_IF_ERROR(
          CudaToStatus(cudaMemcpyAsync(chunk, staging_, bytes, cudaMemcpyDeviceToHost, stream_),
                       "cudaMemcpyAsync(" + what + " staging out)"));
      RETURN_IF_ERROR(Wait(what + " (staged)"));
    }
    return OkStatus();
  }

  Status CheckUsable() const {
    if (comm_ == nullptr) {
      return FailedPreconditionError("nccl communicator was aborted after an earlier error");
    }
    return OkStatus();
  }

  // Waits for the stream, watching for asynchronous NCCL errors (a dead peer)
  // so a failure becomes a Status rather than a hang.
  Status Wait(const std::string& what) {
    for (int spin = 0;; ++spin) {
      cudaError_t state = cudaStreamQuery(stream_);
      if (state == cudaSuccess) return OkStatus();
      if (state != cudaErrorNotReady) return CudaToStatus(state, what + " (stream)");
      ncclResult_t async = ncclSuccess;
      ncclResult_t query = ncclCommGetAsyncError(comm_, &async);
      if (query != ncclSuccess || (async != ncclSuccess && async != ncclInProgress)) {
        Status status = NcclToStatus(query != ncclSuccess ? query : async, what, comm_);
        ncclCommAbort(comm_);
        comm_ = nullptr;
        return status;
      }
      if (spin > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_;
  int world_size_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  double* scratch_ = nullptr;
  void* staging_ = nullptr;  // Staged's chunk buffer
};

// Selects the device for this rank; OK or the reason it cannot.
Status SelectDevice(int local_rank, int local_size) {
  int devices = 0;
  cudaError_t error = cudaGetDeviceCount(&devices);
  if (error != cudaSuccess || devices == 0) {
    return FailedPreconditionError(
        std::string("the nccl collective needs a CUDA device, but none is visible (") +
        (error == cudaSuccess ? "0 devices" : cudaGetErrorString(error)) +
        "); use --device cpu (with --collective mpi or auto)");
  }
  if (local_rank >= devices) {
    return FailedPreconditionError(
        "node-local rank " + std::to_string(local_rank) + " of " + std::to_string(local_size) +
        " has no CUDA device of its own (" + std::to_string(devices) +
        " visible): start at most one rank per GPU on each node");
  }
  return CudaToStatus(cudaSetDevice(local_rank),
                      "cudaSetDevice(" + std::to_string(local_rank) + ")");
}

}  // namespace

StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(MpiRuntime* mpi) {
  const int rank = mpi != nullptr ? mpi->rank() : 0;
  const int world = mpi != nullptr ? mpi->world_size() : 1;
  const int local_rank = mpi != nullptr ? mpi->local_rank() : 0;
  const int local_size = mpi != nullptr ? mpi->local_size() : 1;

  auto comm = std::make_unique<NcclCommunicator>(rank, world);
  Status local = SelectDevice(local_rank, local_size);
  if (local.ok()) local = comm->InitDeviceResources();
  // Rank 0 makes the unique id; its failure is every rank's failure.
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank == 0 && local.ok()) {
    local = NcclToStatus(ncclGetUniqueId(&id), "ncclGetUniqueId", nullptr);
  }
  if (world > 1) {
    // Agree that every rank is ready; a rank that is not must not leave the
    // others waiting in ncclCommInitRank.
    int ready = local.ok() ? 1 : 0;
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Allreduce(MPI_IN_PLACE, &ready, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
        "MPI_Allreduce(nccl setup)"));
    if (!local.ok()) return local;
    if (!ready) {
      return FailedPreconditionError(
          "nccl setup failed on another rank (see its message); this rank's device was fine");
    }
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD),
        "MPI_Bcast(ncclUniqueId)"));
  } else if (!local.ok()) {
    return local;
  }
  RETURN_IF_ERROR(comm->InitComm(id));
  return std::unique_ptr<Communicator>(std::move(comm));
}

}  // namespace shardtrain::comm
